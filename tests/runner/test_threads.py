"""GPU ranks' threads: every rank of every job on a node adds up to the node's cores."""

from __future__ import annotations

import itertools

import pytest

from video_pipeline.runner.threads import node_share, plan_gpu_rank

NODE_CORES, NODE_GPUS = 64, 8

# Jobs side by side on one 8-GPU node: (GPUs of the job, vllm.tensor_parallel_size,
# cores the job may run on: the whole node, or the core set SLURM gave it).
LAYOUTS = {
    "eight 1-GPU jobs": [(1, 1, 64)] * 8,
    "four 2-GPU jobs": [(2, 1, 64)] * 4,
    "one 8-GPU job": [(8, 1, 64)],
    "two 4-GPU jobs of one TP-4 engine": [(4, 4, 64)] * 2,
    "two 4-GPU jobs of two TP-2 engines": [(4, 2, 64)] * 2,
    "a 4-GPU job beside four 1-GPU jobs": [(4, 1, 64)] + [(1, 1, 64)] * 4,
    "SLURM: eight 1-GPU jobs of 8 cores": [(1, 1, 8)] * 8,
    "SLURM: a 2-GPU job of 16 cores beside 1-GPU jobs": [(2, 1, 16)] + [(1, 1, 8)] * 6,
}


def _node_threads(jobs: list[tuple[int, int, int]], workers: int, render: int) -> int:
    total = 0
    for gpus, tp, affinity in jobs:
        ranks = gpus // tp
        cores, _ = node_share(NODE_CORES, NODE_GPUS, gpus, ranks, affinity)
        total += ranks * plan_gpu_rank(cores, workers, render, tp).total
    return total


@pytest.mark.parametrize("layout", LAYOUTS)
def test_ranks_of_jobs_side_by_side_never_exceed_the_node(layout):
    for workers, render in itertools.product((1, 2, 4, 8, 16, 64), (1, 2)):
        total = _node_threads(LAYOUTS[layout], workers, render)
        assert total <= NODE_CORES, (layout, workers, render, total)


def test_a_job_shares_the_node_by_its_gpus():
    assert node_share(64, 8, 1, 1, affinity=64) == (8, "1/8 GPUs")  # not the whole node
    assert node_share(64, 8, 8, 8, affinity=64) == (8, "8/8 GPUs")
    assert node_share(64, 8, 4, 2, affinity=64) == (16, "4/8 GPUs")
    # A core set given to the job (SLURM --cpus-per-task, taskset) is what it splits.
    assert node_share(64, 8, 2, 2, affinity=12) == (6, "core set")
    # More GPUs than the node shows (device files hidden): the job's own count.
    assert node_share(64, 0, 2, 2, affinity=64) == (32, "2/2 GPUs")


def test_a_rank_spends_its_cores_on_render_and_decode():
    one = plan_gpu_rank(8, workers=4, render=1)
    assert (one.reserved, one.workers, one.torch_threads, one.ffmpeg_threads) == (2, 4, 2, 1)
    assert one.total == 8  # no core left idle
    # More cores per GPU: render threads get torch threads, decodes FFmpeg threads.
    wide = plan_gpu_rank(24, workers=4, render=1)
    assert (wide.workers, wide.torch_threads, wide.ffmpeg_threads) == (4, 6, 4)
    h200 = plan_gpu_rank(16, workers=8, render=1)  # the one-GPU, 16-core node measured
    assert (h200.torch_threads, h200.ffmpeg_threads, h200.total) == (6, 1, 16)
    assert wide.total <= 24
    # More decode workers asked than the rank has cores for: capped.
    capped = plan_gpu_rank(8, workers=16, render=2)
    assert (capped.workers, capped.total) == (4, 8)
    # A TP-4 engine's workers each keep a core.
    assert plan_gpu_rank(32, workers=4, render=1, tp=4).reserved == 6
    # Too few cores for one each: one thread each, the least oversubscription.
    tiny = plan_gpu_rank(2, workers=4, render=1)
    assert (tiny.workers, tiny.torch_threads, tiny.ffmpeg_threads) == (1, 1, 1)
