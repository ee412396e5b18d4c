"""Partitioning: every row in exactly one rank, whatever the rank count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from video_pipeline.io.jsonl import InputIndex
from video_pipeline.io.keys import key_hash
from video_pipeline.runner.partition import plan_work, rank_slice


@pytest.mark.parametrize("n", [0, 1, 2, 5, 7, 8, 33])
@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_rank_slices_cover_each_index_once(n: int, world: int):
    parts = [rank_slice(n, world, r) for r in range(world)]
    joined = np.concatenate(parts) if parts else np.zeros(0)
    assert sorted(joined.tolist()) == list(range(n))


def test_plan_work_skips_done_and_duplicates(tmp_path: Path):
    p = tmp_path / "in.jsonl"
    rows = ["a", "b", "c", "a", "d", "e"]
    p.write_text("".join(f'{{"path": "{r}.mp4"}}\n' for r in rows))
    idx = InputIndex.build(p, "path", None)
    done = np.asarray([key_hash("b.mp4")], dtype=np.int64)
    works = [plan_work(idx, 2, r, done) for r in range(2)]
    selected = sorted(np.concatenate([w.selected for w in works]).tolist())
    assert selected == [0, 2, 4, 5]  # b done, second a a duplicate
    assert sum(w.skipped_done for w in works) == 1
    assert sum(w.skipped_duplicate for w in works) == 1


@pytest.mark.parametrize("n", [0, 1, 5, 7, 8, 33])
@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_rank_slice_is_distributed_samplers_slice_without_padding(n: int, world: int):
    from torch.utils.data import DistributedSampler

    for rank in range(world):
        sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=False)
        positions = range(rank, sampler.total_size, world)
        expected = [i for pos, i in zip(positions, sampler, strict=True) if pos < n]
        assert rank_slice(n, world, rank).tolist() == expected
