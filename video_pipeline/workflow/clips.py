"""The workflow's clip steps: expand each shard, deal clips out to the infer jobs, roll
each task up per video, and the summary pass.

    shards/{s}.jsonl --expand_clips--> clips/rows/{s}.jsonl (+ clips/probes/{s}.jsonl)
    clips/rows/*.jsonl --clip_shards--> clips/{s}.jsonl   (by clip-key hash: a long
                                        video's clips spread over every infer job)
    results/{task}.jsonl --rollup--> results/{task}.videos.jsonl
    results/{task}.videos.jsonl --summarize--> results/{task}.summary.jsonl
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from video_pipeline.clips.expand import ExpandOptions
from video_pipeline.clips.files import expand_file
from video_pipeline.clips.rollup import write_rollup
from video_pipeline.clips.summary import summary_config, summary_input, write_summary_rows
from video_pipeline.io.jsonl import iter_lines
from video_pipeline.io.keys import KEY_FIELD
from video_pipeline.merge import merge_outputs
from video_pipeline.runner.lock import OutputLock
from video_pipeline.workflow.infer import InferError, launch_attempt
from video_pipeline.workflow.settings import Workflow
from video_pipeline.workflow.shard import deal
from video_pipeline.workflow.stats import part_stats

log = logging.getLogger("video_pipeline")


def expand_shard(wf: Workflow, shard: str, rows: str, probes: str, workers: int = 0) -> None:
    """The clip rows of one input shard, and its probe report."""
    video_field, id_field = wf.key_fields
    cfg = next(iter(wf.configs.values()))
    options = ExpandOptions(wf.clips, video_field, id_field, cfg.data.video_dir)
    expand_file(wf.layout.shard(shard), rows, options, probes, workers)


def write_clip_shards(rows: Sequence[str], outputs: Sequence[str]) -> list[int]:
    """Every clip row of `rows` into `outputs[hash(key) % n]`, each file atomically;
    returns the clips per output. Clip keys, not video keys, decide: the clips of one
    long video are dealt out over all infer jobs."""

    def lines() -> Iterator[tuple[str, bytes]]:
        for path in rows:
            for _offset, _lineno, line in iter_lines(path):
                key = str(json.loads(line)[KEY_FIELD])
                yield key, line if line.endswith(b"\n") else line + b"\n"

    counts = deal(lines(), outputs)
    shown = " ".join(map(str, counts))
    log.info("%d clips into %d infer shards (%s)", sum(counts), len(outputs), shown)
    return counts


def rollup_task(
    task: str, results: str, errors: str, rows: Sequence[str], output: str
) -> dict[str, int]:
    """One line per video of a task's merged clips (videos in input-shard order)."""
    report = write_rollup([results, errors], output, rows)
    log.info("task %s: %s", task, report.summary())
    if report.pending or report.orphans:
        raise RuntimeError(
            f"task {task}: {report.pending} clip(s) without a record and {report.orphans} "
            "record(s) of no clip row: the results are not those of these clip rows"
        )
    return report.to_dict()


def run_summary(wf: Workflow, task: str, videos: str, results: str, log_path: str) -> None:
    """The summary pass of `task`: its rows from the roll-up, a `launch` job on the
    job's devices, its records merged into `results` (+ errors, + stats as manifest)."""
    src = wf.summary_source(task)
    rows = summary_input(src)
    made = write_summary_rows(videos, rows, src.data.video_field)
    log.info("task %s: %d videos to summarise (%d with nothing to)", task, made.videos, made.failed)
    cfg = summary_config(src, rows, wf.layout.result(task))  # the clips' merged records
    work = Path(wf.layout.summary_stem(task)).parent
    attempts, fp = str(work / "attempts.jsonl"), wf.summary_fingerprint(task)
    rc = launch_attempt(wf, cfg, str(work / "config.yaml"), f"{task}/summary", log_path, attempts)
    if rc != 0:
        raise InferError(f"summary of {task}: ranks exited with code {rc}; rerun to resume")
    stats = Path(results).with_name(Path(results).name.replace(".jsonl", ".stats.json"))
    with OutputLock(cfg.data.output_jsonl):
        report = merge_outputs(
            cfg, results, manifest=stats, summary=lambda r: part_stats(r, attempts, fp)
        )
    if not report.complete:
        raise InferError(f"summary of {task}: {report.pending} video(s) have no record")
    log.info("summary of %s: %s", task, report.summary())
