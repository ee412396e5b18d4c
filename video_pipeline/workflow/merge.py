"""The per-task merge: finished shards -> one results file and one errors file.

Shards hold disjoint keys by construction; the merge still checks that every key
appears once across the task (results and errors together) before it writes anything
in place, so a bug upstream fails loudly instead of shipping duplicates. A part is
read only when its manifest (the part's stats, written last) vouches for its files;
the task's stats are in turn the manifest of its results (io/outputs.py).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from video_pipeline.io.atomic import Staged
from video_pipeline.io.journal import read_head
from video_pipeline.io.keys import key_hash
from video_pipeline.io.outputs import problems, publish
from video_pipeline.strips import strips_path
from video_pipeline.workflow.layout import Layout
from video_pipeline.workflow.stats import task_stats

log = logging.getLogger("video_pipeline")


class DuplicateKeyError(RuntimeError):
    """A key appears in more than one record of a task."""


def _key_hashes(paths: Sequence[str | Path]) -> np.ndarray:
    decoder = json.JSONDecoder()
    hashes = []
    for path in paths:
        with open(path, "rb") as f:
            for line in f:
                head = read_head(line, decoder)
                if head is None:
                    raise ValueError(f"{path}: a line is not a finished record: {line[:120]!r}")
                hashes.append(key_hash(head[0]))
    return np.asarray(hashes, dtype=np.int64)


def _concat(sources: Sequence[str | Path], staged: Staged) -> None:
    """The sources, in order, into `staged`'s temp file."""
    out = staged.open()
    for src in sources:
        with open(src, "rb") as f:
            shutil.copyfileobj(f, out)
    staged.close()


def _part_strips(task: str, parts: Sequence[str]) -> list[str]:
    """Where each part's merge left its thumbnails (outdir/parts/{task}/{shard}.jsonl)."""
    return [
        Layout(str(Path(p).parents[2])).part_strips(task, Path(p).name.removesuffix(".jsonl"))
        for p in parts
    ]


class IncompletePart(RuntimeError):
    """A part's files are not the complete set its manifest lists."""


def merge_task(
    task: str,
    parts: Sequence[str],
    part_errors: Sequence[str],
    part_stats: Sequence[str],
    output: str,
    errors_output: str,
    stats_output: str,
) -> dict:
    """Concatenate the shards of `task` (in shard order) after checking keys are unique."""
    bad = [p for stats in part_stats for p in problems(Path(stats))]
    if bad:
        raise IncompletePart(
            f"task {task}: some parts are incomplete (a job was killed while finalizing "
            "them); rerun the workflow to finalize them again: " + "; ".join(bad[:3])
        )
    hashes = _key_hashes([*parts, *part_errors])
    unique = np.unique(hashes)
    if len(unique) != len(hashes):
        raise DuplicateKeyError(
            f"task {task}: {len(hashes) - len(unique)} key(s) appear more than once across "
            "its shards; not writing results"
        )
    strips_output = strips_path(output)
    with (
        Staged(output) as results,
        Staged(errors_output) as errors,
        Staged(strips_output) as strips,
    ):
        _concat(parts, results)
        _concat(part_errors, errors)
        files = {"results": (results.tmp, results.path), "errors": (errors.tmp, errors.path)}
        part_strips = [p for p in map(Path, _part_strips(task, parts)) if p.is_file()]
        if part_strips:  # the parts' thumbnails (strips.py), for the report
            _concat(part_strips, strips)
            files["strips"] = (strips.tmp, strips_output)
        stats = task_stats(task, [json.loads(Path(p).read_text()) for p in part_stats])
        publish(files, Path(stats_output), stats)
    log.info(
        "task %s: %d ok, %d failed over %d shard(s) -> %s",
        task,
        stats["ok"],
        stats["failed"],
        len(parts),
        output,
    )
    return stats
