"""Which cores and how many threads each part of a rank gets.

On a CPU rank the engine is OpenMP code that spins on its cores: decode workers sharing
those cores stall every parallel region. So a CPU rank with several cores gives the
engine its own (`VLLM_CPU_OMP_THREADS_BIND`) and the decode workers and render
threads the others: one core per decode worker, as many as `data.num_workers` asks and
the rank has beyond the engine's one. A rank with one core shares it.

On a GPU rank nothing is pinned, but every thread count is set outright (torchrun and
Snakemake set OMP_NUM_THREADS first) from the rank's share of the node: the job's core
set when it was given one (SLURM), else the node's cores in proportion to the GPUs the
job holds, divided between the job's ranks on the node. Eight 1-GPU jobs on an 8-GPU,
64-core node get 8 cores each (qwen_vl_utils alone would give every decode 8 FFmpeg
threads: 512 with 8 workers per rank). `plan_gpu_rank` spends a rank's cores; decode
code asks `ffmpeg_threads()` for its FFmpeg thread count.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from video_pipeline.config.schema import Config

DECODE_CORES_ENV = "VP_DECODE_CORES"
FFMPEG_THREADS_ENV = "VP_FFMPEG_THREADS"  # per decode, from the rank's plan

log = logging.getLogger("video_pipeline")


def pin_here(cores: set[int] | frozenset[int] | None) -> None:
    """Run the calling thread (Linux: a thread, not the process) on `cores`, those of
    them it may use; unpinned, with a warning, when none: a wrong core list costs speed,
    never the rank."""
    if not cores:
        return
    usable = set(cores) & os.sched_getaffinity(0)
    if not usable:
        log.warning("cores %s are not this process's to use; running unpinned", sorted(cores))
        return
    os.sched_setaffinity(0, usable)


def split_cores(cores: list[int], workers: int, tp: int = 1) -> tuple[list[int], list[int]]:
    """(engine cores, decode cores) of a CPU rank's cores; the engine keeps at least
    one core per tensor-parallel worker, else all cores are shared."""
    if len(cores) <= tp:
        return cores, cores
    n = max(1, min(workers, len(cores) - tp))
    return cores[:-n], cores[-n:]


def engine_bind(engine: list[int], tp: int) -> str:
    """VLLM_CPU_OMP_THREADS_BIND for `tp` engine workers: consecutive groups of the
    engine's cores joined by '|' (workers share cores when there are fewer)."""
    k = max(1, len(engine) // tp)
    groups = [engine[i * k : (i + 1) * k] or [engine[i % len(engine)]] for i in range(tp)]
    groups[-1] = groups[-1] + engine[tp * k :]  # the remainder to the last worker
    return "|".join(",".join(map(str, g)) for g in groups)


def pin_cpu_rank(cores: list[int], workers: int, tp: int = 1) -> None:
    """Before torch is imported: the engine's cores and threads, and the decoders'."""
    engine, decode = split_cores(cores, workers, tp)
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", engine_bind(engine, tp))
    os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    os.environ["OMP_NUM_THREADS"] = str(len(engine) // tp or 1)
    os.environ[DECODE_CORES_ENV] = ",".join(map(str, decode))


def node_share(
    node_cores: int, node_gpus: int, job_gpus: int, local_world: int, affinity: int | None
) -> tuple[int, str]:
    """(cores of one GPU rank, where the figure comes from).

    A job given a core set (SLURM, taskset: fewer cores allowed than the node has) splits
    that set; otherwise it owns the node's cores in proportion to the GPUs it holds, so
    jobs side by side on one node add up to the node, never each the whole of it.
    """
    if affinity is not None and affinity < node_cores:
        job, source = affinity, "core set"
    else:
        gpus = max(1, node_gpus, job_gpus)
        job, source = node_cores * max(1, job_gpus) // gpus, f"{job_gpus}/{gpus} GPUs"
    return max(1, job // max(1, local_world)), source


@dataclass(frozen=True)
class GpuRankThreads:
    """How a GPU rank spends its cores: `reserved` for the thread that steps and the
    engine's processes, `render` threads of `torch_threads` each, `workers` decode
    processes of `ffmpeg_threads` each."""

    cores: int
    reserved: int
    render: int
    torch_threads: int
    workers: int
    ffmpeg_threads: int

    @property
    def total(self) -> int:
        return self.reserved + self.render * self.torch_threads + self.workers * self.ffmpeg_threads


def plan_gpu_rank(cores: int, workers: int, render: int, tp: int = 1) -> GpuRankThreads:
    """Threads of a GPU rank with `cores`: at most `cores` in all while the rank has a
    core for each reserved thread, render thread and one decode worker (below that, one
    thread each). Decode workers are capped at the cores left after the render threads;
    the rest is shared evenly between render and decode threads."""
    reserved = 2 + (tp if tp > 1 else 0)  # the stepping thread, EngineCore, TP workers
    free = max(0, cores - reserved)
    workers = max(1, min(workers, free - render))
    per = max(1, free // (render + workers))
    ffmpeg = max(1, (free - render * per) // workers)
    # what the decoders' even share leaves (a remainder of the division) goes to the
    # render threads: a 16-core rank with 8 workers otherwise left 5 cores idle
    per = max(per, (free - workers * ffmpeg) // render)
    return GpuRankThreads(cores, reserved, render, per, workers, ffmpeg)


def gpu_rank_threads(workers: int, render: int, tp: int) -> tuple[GpuRankThreads, str]:
    """This GPU rank's plan from the node it runs on and its job's GPUs."""
    from video_pipeline.devices import job_gpu_count, node_gpu_count

    cores, source = node_share(
        os.cpu_count() or 1,
        node_gpu_count(),
        job_gpu_count(),
        int(os.environ.get("LOCAL_WORLD_SIZE", "1")),
        len(os.sched_getaffinity(0)),
    )
    return plan_gpu_rank(cores, workers, render, tp), source


def size_gpu_rank(workers: int, render: int, tp: int) -> None:
    """Before torch is imported: the rank's torch threads, set outright (torchrun sets
    OMP_NUM_THREADS=1 with several ranks, Snakemake to the job's `threads:`)."""
    plan, _ = gpu_rank_threads(workers, render, tp)
    os.environ["OMP_NUM_THREADS"] = str(plan.torch_threads)


def pin_rank(local_rank: int, workers: int, tp: int = 1, render: int = 1) -> None:
    """This rank's GPUs, or CPU cores split between its engine's `tp` workers and its
    decode workers; then its threads."""
    from video_pipeline.devices import take_rank_devices

    cores = take_rank_devices(local_rank)
    if cores:
        pin_cpu_rank(cores, workers, tp)
    else:
        size_gpu_rank(workers, render, tp)


def ffmpeg_threads() -> int:
    """FFmpeg threads for one decode in this process: the rank's plan (set before its
    decode workers start, so they inherit it), else this process's cores."""
    planned = os.environ.get(FFMPEG_THREADS_ENV)
    return int(planned) if planned else max(1, len(os.sched_getaffinity(0)))


@dataclass(frozen=True)
class ThreadPlan:
    workers: int  # decode worker processes
    decode_cores: set[int] | None  # where decode workers and render threads run (CPU ranks)
    codec_threads: int  # FFmpeg threads per decode
    render_threads: int
    torch_threads: int | None = None  # the rank's intra-op threads (GPU ranks)
    gpu: GpuRankThreads | None = None
    share: str | None = None  # where a GPU rank's core count comes from

    @classmethod
    def for_rank(cls, cfg: Config) -> ThreadPlan:
        workers = max(1, cfg.data.num_workers)
        render = cfg.run.render_threads
        pinned = os.environ.get(DECODE_CORES_ENV)
        if pinned:
            cores = {int(c) for c in pinned.split(",")}
            return cls(workers, cores, max(1, len(cores) // workers), render)
        from video_pipeline.devices import machine_has_gpu

        if not machine_has_gpu():  # a rank run in-process, unpinned: workers as asked
            local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
            share = max(1, len(os.sched_getaffinity(0)) // local)
            return cls(workers, None, max(1, share // workers), render)
        gpu, share = gpu_rank_threads(workers, render, cfg.vllm.tensor_parallel_size)
        return cls(gpu.workers, None, gpu.ffmpeg_threads, render, gpu.torch_threads, gpu, share)

    def apply(self) -> None:
        """Before the decode workers start: their FFmpeg threads (inherited), and on a
        GPU rank the render threads' torch threads."""
        os.environ[FFMPEG_THREADS_ENV] = str(self.codec_threads)
        os.environ["TORCHCODEC_NUM_THREADS"] = str(self.codec_threads)  # qwen_vl_utils'
        if self.torch_threads is not None:
            import torch

            torch.set_num_threads(self.torch_threads)

    def describe(self) -> dict:
        out = {
            "decode_workers": self.workers,
            "decode_cores": sorted(self.decode_cores) if self.decode_cores else None,
            "engine_cores": os.environ.get("VLLM_CPU_OMP_THREADS_BIND"),
            "ffmpeg_threads_per_decode": self.codec_threads,
            "render_threads": self.render_threads,
        }
        if self.gpu is not None:
            out |= {
                "rank_cores": self.gpu.cores,
                "rank_cores_from": self.share,
                "torch_threads": self.torch_threads,
                "reserved_cores": self.gpu.reserved,
                "threads_total": self.gpu.total,
            }
        return out
