"""Which cores and how many threads each part of a rank gets.

On a CPU rank the engine is OpenMP code that spins on its cores: decode workers sharing
those cores stall every parallel region. So a CPU rank with several cores gives the
engine its own (`VLLM_CPU_OMP_THREADS_BIND`) and the decode workers and render
threads the others: one core per decode worker, as many as `data.num_workers` asks and
the rank has beyond the engine's one. A rank with one core shares it.

On a GPU rank nothing is pinned, but thread counts are set from the rank's share of the
node's cores (not the whole node per process): each decode worker runs one torch
thread and FFmpeg with its share of the rank's cores (qwen_vl_utils would give every
decode 8 FFmpeg threads: 512 on an 8-GPU node with 8 workers per rank).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from video_pipeline.config.schema import Config

DECODE_CORES_ENV = "VP_DECODE_CORES"

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


def size_gpu_rank() -> None:
    """Before torch is imported: the rank's threads from its share of the node's cores."""
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    share = max(1, len(os.sched_getaffinity(0)) // local)
    os.environ.setdefault("OMP_NUM_THREADS", str(share))


def pin_devices(local_rank: int, workers: int, tp: int = 1) -> None:
    """This rank's GPUs (`VP_GPUS`: ranks joined by '|'), or CPU cores split between its
    engine's `tp` workers and its decode workers."""
    gpus = os.environ.get("VP_GPUS")
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus.split("|")[local_rank]
    cores = os.environ.get("VP_CPU_BIND")
    if cores:
        mine = [int(c) for c in cores.split("|")[local_rank].split(",")]
        pin_cpu_rank(mine, workers, tp)
    else:
        size_gpu_rank()


@dataclass(frozen=True)
class ThreadPlan:
    workers: int  # decode worker processes
    decode_cores: set[int] | None  # where decode workers and render threads run (CPU ranks)
    codec_threads: int  # FFmpeg threads per decode
    render_threads: int

    @classmethod
    def for_rank(cls, cfg: Config) -> ThreadPlan:
        workers = max(1, cfg.data.num_workers)
        pinned = os.environ.get(DECODE_CORES_ENV)
        if pinned:
            cores = {int(c) for c in pinned.split(",")}
            share = len(cores)
        else:
            cores = None
            local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
            share = max(1, len(os.sched_getaffinity(0)) // local)
        return cls(workers, cores, max(1, share // workers), cfg.run.render_threads)

    def describe(self) -> dict:
        return {
            "decode_workers": self.workers,
            "decode_cores": sorted(self.decode_cores) if self.decode_cores else None,
            "engine_cores": os.environ.get("VLLM_CPU_OMP_THREADS_BIND"),
            "ffmpeg_threads_per_decode": self.codec_threads,
            "render_threads": self.render_threads,
        }
