"""The summary pass: one text-only sample per video, from its clip captions in time order.

The summary is a stage after the clip task (video_pipeline/stages): its upstream is the
clip task, joined many to one (`join: video`), so a sample is a whole video and its
prompt holds the video's clip records in time order, read by the same upstream join as
any stage; its records carry `upstream`, and its fingerprint covers the clip task's.

A roll-up (`rollup.py`) becomes summary rows, its samples: one per video with the
video's key, its video value, its duration and its ok clips' captions in time order
(kept in each record's `raw`); a video that failed whole, or whose every clip failed,
becomes one error row, so every video has exactly one summary record, a result or an
error. The pass is a task like any other: journals beside the output
(`<stem>.summary.rank{r}.jsonl`), resume by key, its own fingerprint. It runs in the
same ranks right after the clips, on the engine they used.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from video_pipeline.clips.rollup import write_rollup
from video_pipeline.config.schema import ClipsConfig, Config
from video_pipeline.fingerprint import fingerprint
from video_pipeline.io.atomic import atomic_write, atomic_writer
from video_pipeline.io.journal import output_stem
from video_pipeline.io.jsonl import dumps_line, iter_complete_lines
from video_pipeline.io.keys import KEY_FIELD
from video_pipeline.io.record import ERROR, Record, RecordError
from video_pipeline.stages.plan import RECORDS, with_upstream
from video_pipeline.stages.upstream import BY_VIDEO, JOIN

if TYPE_CHECKING:
    from video_pipeline.engine.base import Engine
    from video_pipeline.runner.progress import RankStats

log = logging.getLogger("video_pipeline")

CAPTIONS_FIELD = "captions"


@dataclass
class SummaryRows:
    path: Path
    videos: int = 0  # rows written, one per video
    failed: int = 0  # of them error rows (nothing to summarise)
    pending: int = 0  # videos left out: a clip has no record yet (or will be retried)


def summary_output(cfg: Config) -> str:
    """`<stem>.summary.jsonl` beside the clip task's output."""
    return f"{output_stem(cfg.data.output_jsonl)}.summary.jsonl"


def summary_input(cfg: Config) -> Path:
    """`<stem>.summary.input.jsonl`: the summary rows of the clip task `cfg`."""
    return Path(f"{output_stem(cfg.data.output_jsonl)}.summary.input.jsonl")


def summary_configs(cfgs: list[Config]) -> list[Config]:
    """The summary passes of the clip tasks `cfgs` whose summary rows exist."""
    return [
        summary_config(cfg, summary_input(cfg))
        for cfg in cfgs
        if cfg.clips.summary and summary_input(cfg).is_file()
    ]


def summary_config(cfg: Config, rows: str | Path, records: str | None = None) -> Config:
    """The summary pass of the single-task clip config `cfg`, reading `rows`, and the
    clip records from `records` (default: the clip task's output and its journals).

    The task and its params come from `clips.summary_task` / `summary_params`; the
    model, sampling and run settings are the clip task's. Clips are off: its samples
    are whole videos.
    """
    data = {"input_jsonl": str(rows), "output_jsonl": summary_output(cfg)}
    summary = cfg.model_copy(
        update={
            "data": cfg.data.model_copy(update=data),
            "run": cfg.run.model_copy(update={"task": cfg.clips.summary_task}),
            "task_params": dict(cfg.clips.summary_params),
            "clips": ClipsConfig(),
        }
    )
    # A stage after the clip task, by video: the captions' fingerprint is part of the
    # summary's (new captions, new summaries); their records are the clip task's output.
    up = {"fingerprint": fingerprint(cfg), RECORDS: records or cfg.data.output_jsonl}
    return with_upstream(summary, {cfg.run.task: {**up, JOIN: BY_VIDEO}})


def write_summary_rows(
    videos_jsonl: str | Path, out: str | Path, video_field: str, retried: bool = False
) -> SummaryRows:
    """One summary row per complete video of a roll-up, written atomically to `out`.

    `retried`: a rerun will retry the clips' transient errors (launch), so a video with
    one is left pending rather than summarised without that clip for good."""
    report = SummaryRows(Path(out))
    with atomic_writer(report.path) as f:
        for line in iter_complete_lines(videos_jsonl):
            if not line.strip():
                continue
            row = summary_row(json.loads(line), video_field, retried)
            if row is None:
                report.pending += 1
                continue
            report.videos += 1
            report.failed += "__error" in row
            f.write(dumps_line(row))
    return report


def summary_row(
    video: dict[str, Any], video_field: str, retried: bool = False
) -> dict[str, Any] | None:
    """The summary row of one roll-up line; None while the video is pending."""
    if video["status"] == "pending":
        return None
    clips = [Record.from_dict(c) for c in video["clips"]]  # each a clip's record
    if retried and any(c.error is not None and c.error.transient for c in clips):
        return None
    key = video[KEY_FIELD]
    raw = video.get("raw") or {}
    row: dict[str, Any] = {
        KEY_FIELD: key,
        "video_key": key,
        video_field: raw.get(video_field),
        "duration": video.get("duration"),
    }
    if video.get("error"):  # the video failed whole (could not be probed)
        error = RecordError.from_dict(video["error"])
        return {**row, "__error": error.message, "__error_kind": error.kind}
    ok = [c for c in clips if c.ok]
    failed = [c for c in clips if c.status == ERROR]
    if not ok:
        kinds = Counter(c.error_kind for c in failed) or Counter(decode_error=0)
        listed = ", ".join(f"{k}={n}" for k, n in kinds.most_common())
        return {
            **row,
            "__error": f"no clip of this video has a caption ({listed})",
            "__error_kind": kinds.most_common(1)[0][0],
        }
    row[CAPTIONS_FIELD] = [{**_bounds(c), "text": (c.text or "").strip()} for c in ok]
    row["failed_clips"] = [{**_bounds(c), "kind": c.error_kind} for c in failed]
    return row


def _bounds(rec: Record) -> dict[str, Any]:
    clip = rec.clip or {}
    return {k: clip[k] for k in ("index", "start", "end")}


def run_summary_pass(
    cfgs: list[Config],
    rank: int,
    world_size: int,
    engines: Callable[[list[Config]], Callable[[], Engine]],
    poll_s: float = 0.2,
) -> list[RankStats]:
    """In a rank that has finished its clips: the summary stage of each clip task.

    Waits until every rank of this torchrun has finished its clips (a marker per rank
    holding the run's id): unlike a stage over the same rows, a video's clips are
    spread over every rank. Then writes the summary rows from the journals (every rank
    writes the same rows, atomically) and runs each summary through `run_tasks`, which
    joins it to its clip records, on `engines(configs)`'s engine: the one its clip task
    ran on where that is still loaded, so no second model load.
    """
    from video_pipeline.io.journal import journal_paths
    from video_pipeline.runner.rank import run_tasks

    _barrier(cfgs[0], rank, world_size, poll_s)
    stats = []
    for cfg in cfgs:
        rows = summary_input(cfg)
        with tempfile.TemporaryDirectory(dir=rows.parent, prefix=".summary.") as tmp:
            videos = Path(tmp) / "videos.jsonl"
            write_rollup(journal_paths(cfg.data.output_jsonl), videos, [cfg.data.input_jsonl])
            made = write_summary_rows(videos, rows, cfg.data.video_field, retried=True)
        log.info(
            "[rank %d] summary of %s: %d videos (%d with nothing to summarise), %d pending",
            rank,
            cfg.run.task,
            made.videos,
            made.failed,
            made.pending,
        )
        summary = [summary_config(cfg, rows)]
        stats += run_tasks(summary, rank, world_size, engines(summary))
    return stats


def _barrier(cfg: Config, rank: int, world_size: int, poll_s: float) -> None:
    """Every rank of this torchrun launch has finished its clips. A rank that fails
    makes torchrun stop the others, so no rank waits for ever on a dead one."""
    run_id = os.environ.get("TORCHELASTIC_RUN_ID", "")
    stem = output_stem(cfg.data.output_jsonl)

    def marker(r: int) -> Path:
        return Path(f"{stem}.clips-done.rank{r}")

    # Only this launch's ranks read it, and a power loss ends the launch: no fsync.
    atomic_write(marker(rank), run_id, durable=False)
    waiting = set(range(world_size))
    while waiting:
        waiting = {r for r in waiting if not _says(marker(r), run_id)}
        if waiting:
            time.sleep(poll_s)


def _says(path: Path, text: str) -> bool:
    try:
        return path.read_text() == text
    except FileNotFoundError:
        return False
