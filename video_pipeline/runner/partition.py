"""Which rows a rank runs: its DistributedSampler slice, minus finished and repeated keys."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from video_pipeline.io.jsonl import InputIndex


def rank_slice(n: int, world: int, rank: int) -> np.ndarray:
    """DistributedSampler's indices for `rank`, with its padding duplicates dropped.

    `DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=False)` pads the
    index list to a multiple of `world` by repeating the first indices (running those
    would process a sample twice), then takes every `world`-th from `rank`; without the
    padding that is `rank, rank + world, ...`. Computed directly: the sampler builds a
    Python list of all `n` indices, about 36 bytes a row of the input.
    """
    return np.arange(rank, n, world, dtype=np.int64)


@dataclass
class Work:
    selected: np.ndarray  # row indices this rank runs
    skipped_done: int  # already in a journal of this task and fingerprint
    skipped_duplicate: int  # same key as an earlier row of the input
    total: int  # rows in this rank's slice


def plan_work(index: InputIndex, world: int, rank: int, done_hashes: np.ndarray) -> Work:
    mine = rank_slice(len(index), world, rank)
    part = slice(rank, len(index), world)  # the same rows as `mine`, as views, not copies
    first = index.first_occurrence()[part]
    done = _member(index.hashes[part], done_hashes)
    keep = first & ~done
    return Work(
        selected=mine[keep],
        skipped_done=int((first & done).sum()),
        skipped_duplicate=int((~first).sum()),
        total=len(mine),
    )


def _member(values: np.ndarray, sorted_unique: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """`np.isin(values, sorted_unique)` for a sorted set, a chunk at a time.

    `np.isin` sorts copies of both arrays: a transient of tens of MB on a million rows.
    """
    out = np.zeros(len(values), dtype=bool)
    if len(sorted_unique) == 0:
        return out
    for i in range(0, len(values), chunk):
        v = values[i : i + chunk]
        pos = np.searchsorted(sorted_unique, v)
        pos[pos == len(sorted_unique)] = 0
        out[i : i + chunk] = sorted_unique[pos] == v
    return out
