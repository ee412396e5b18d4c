"""The per-task merge: finished shards -> one results file and one errors file.

Shards hold disjoint keys by construction; the merge still checks that every key
appears once across the task (results and errors together) before it writes anything
in place, so a bug upstream fails loudly instead of shipping duplicates.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from video_pipeline.io.journal import read_head
from video_pipeline.io.keys import key_hash
from video_pipeline.workflow.stats import task_stats, write_json

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


def _concat(sources: Sequence[str | Path], dest: str | Path) -> None:
    tmp = Path(f"{dest}.tmp{os.getpid()}")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(tmp, "wb") as out:
            for src in sources:
                with open(src, "rb") as f:
                    shutil.copyfileobj(f, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


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
    hashes = _key_hashes([*parts, *part_errors])
    unique = np.unique(hashes)
    if len(unique) != len(hashes):
        raise DuplicateKeyError(
            f"task {task}: {len(hashes) - len(unique)} key(s) appear more than once across "
            "its shards; not writing results"
        )
    _concat(parts, output)
    _concat(part_errors, errors_output)
    stats = task_stats(task, [json.loads(Path(p).read_text()) for p in part_stats])
    write_json(stats_output, stats)
    log.info(
        "task %s: %d ok, %d failed over %d shard(s) -> %s",
        task,
        stats["ok"],
        stats["failed"],
        len(parts),
        output,
    )
    return stats
