"""Which rows a rank runs: its DistributedSampler slice, minus finished and repeated keys."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch.utils.data import DistributedSampler

from video_pipeline.io.jsonl import InputIndex


def rank_slice(n: int, world: int, rank: int) -> np.ndarray:
    """DistributedSampler's indices for `rank`, with its padding duplicates dropped.

    The sampler pads the index list to a multiple of `world` by repeating the first
    indices; running those would process a sample twice.
    """
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=False)
    positions = range(rank, sampler.total_size, world)
    return np.asarray([i for pos, i in zip(positions, sampler, strict=True) if pos < n], np.int64)


@dataclass
class Work:
    selected: np.ndarray  # row indices this rank runs
    skipped_done: int  # already in a journal of this task and fingerprint
    skipped_duplicate: int  # same key as an earlier row of the input
    total: int  # rows in this rank's slice


def plan_work(index: InputIndex, world: int, rank: int, done_hashes: np.ndarray) -> Work:
    mine = rank_slice(len(index), world, rank)
    first = index.first_occurrence()[mine]
    done = np.isin(index.hashes[mine], done_hashes)
    keep = first & ~done
    return Work(
        selected=mine[keep],
        skipped_done=int((first & done).sum()),
        skipped_duplicate=int((~first).sum()),
        total=len(mine),
    )
