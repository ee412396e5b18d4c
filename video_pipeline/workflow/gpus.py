"""Which GPUs an infer job uses.

Snakemake's `resources: gpu=G` only counts GPUs; locally it assigns no ids, so jobs that
run side by side would all see every GPU. A job therefore claims G concrete ids from a
pool before it launches: one lock file per id, held with `flock` for the job's
lifetime. The kernel drops the locks when the process ends, however it ends (kill -9
included), so a crashed job never leaves an id taken; the job's ranks and engine
processes register as members of each claim (runner/members.py), and an id is not
claimed again while one of them lives (a killed engine may still hold the GPU's memory).
Under SLURM the ids SLURM put in CUDA_VISIBLE_DEVICES are already the job's own and are
used as given.

Several users may share one lock folder (the default is under /tmp): the folder is
created sticky and world-writable like /tmp itself, lock files are opened without
following symlinks (a planted link cannot redirect the write) and made writable by
all, so one user's job can wait on another's claim but cannot remove or replace it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import pwd
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from video_pipeline.devices import usable_gpus, visible_gpus
from video_pipeline.runner import members
from video_pipeline.runner.lock import flock_or_explain

log = logging.getLogger("video_pipeline")


class GpuClaimError(RuntimeError):
    """No way to get the GPUs a job needs (an empty pool, or a timeout)."""


@dataclass
class Devices:
    gpu_ids: list[str]  # ids this job holds (claimed or given by SLURM); empty for none
    ranks: int  # torchrun ranks: one engine each, on tensor_parallel_size of the ids
    cpu: bool  # ranks run on CPU (no GPU, or device: cpu)
    source: str  # "slurm", "claimed" or "none"

    def describe(self) -> str:
        ids = ",".join(self.gpu_ids) or "-"
        where = "CPU" if self.cpu else "GPU"
        return f"gpu_ids={ids} source={self.source} ranks={self.ranks} ({where})"


def _lock_name(gpu_id: str) -> str:
    return "gpu-" + re.sub(r"[^A-Za-z0-9_.-]", "_", gpu_id) + ".lock"


def member_dirs(gpus: list[str], lock_dir: str | Path) -> list[Path]:
    """Where the processes using claimed GPUs register (see runner/members.py)."""
    return [members.members_dir(Path(lock_dir) / _lock_name(g)) for g in gpus]


def _lock_folder(lock_dir: Path) -> None:
    if lock_dir.is_symlink():
        raise GpuClaimError(f"gpu_lock_dir {lock_dir} is a symlink; refusing to use it")
    if not lock_dir.is_dir():
        lock_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(lock_dir, 0o1777)  # shared like /tmp: anyone may lock, no one may delete


def _open_lock(path: Path) -> int:
    """A lock file, opened without following a symlink; readable and writable by all."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise GpuClaimError(f"{path} is a symlink; refusing to follow it") from None
        if e.errno == errno.EACCES:
            raise GpuClaimError(f"{path} belongs to {_owner(path)} and is not writable") from None
        raise
    st = os.fstat(fd)
    if st.st_uid == os.getuid() and st.st_mode & 0o777 != 0o666:
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o666)  # the umask narrowed it; others must be able to lock it
    return fd


def holders(pool: list[str], lock_dir: Path) -> str:
    """Who holds each GPU lock, as their lock files say (the owner when it is not us)."""
    out = []
    for gpu in pool:
        path = lock_dir / _lock_name(gpu)
        try:
            note = path.read_text().strip()
            foreign = path.stat().st_uid != os.getuid()
        except OSError:
            continue
        if note:
            out.append(f"GPU {gpu}: {note}" + (f" (file of {_owner(path)})" if foreign else ""))
    return "; ".join(out) or "unknown"


def _owner(path: Path) -> str:
    try:
        uid = path.stat().st_uid
    except OSError:
        return "another user"
    try:
        return f"user {pwd.getpwuid(uid).pw_name}"
    except KeyError:
        return f"uid {uid}"


@contextlib.contextmanager
def claim(
    pool: list[str],
    n: int,
    lock_dir: str | Path,
    timeout_s: float | None = None,
    poll_s: float = 0.5,
    label: str = "",
) -> Iterator[list[str]]:
    """Hold `n` ids of `pool` exclusively until the block exits.

    Ids are taken all at once or not at all (a job holding half of what it needs while
    waiting for the rest could deadlock with another doing the same).
    """
    if n > len(pool):
        raise GpuClaimError(f"a job needs {n} GPU(s) but the pool has {len(pool)}: {pool}")
    lock_dir = Path(lock_dir)
    _lock_folder(lock_dir)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    waited_since = time.monotonic()
    next_note = waited_since + 60
    while True:
        held = _try_claim(pool, n, lock_dir, label)
        if held is not None:
            break
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            raise GpuClaimError(
                f"could not claim {n} of GPUs {','.join(pool)} within {timeout_s}s "
                f"(locks in {lock_dir}; held by: {holders(pool, lock_dir)})"
            )
        if now >= next_note:
            log.info(
                "waiting %.0fs for %d free GPU(s) of %s; held by: %s",
                now - waited_since,
                n,
                pool,
                holders(pool, lock_dir),
            )
            next_note = now + 60
        time.sleep(poll_s)
    try:
        yield [gpu for gpu, _ in held]
    finally:
        for _, fd in held:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # no stale note of who held it
            os.close(fd)


def _try_claim(pool: list[str], n: int, lock_dir: Path, label: str) -> list[tuple[str, int]] | None:
    # One scan at a time, so two jobs never each take part of the same free set.
    guard = _open_lock(lock_dir / "claim.lock")
    try:
        flock_or_explain(guard, lock_dir / "claim.lock", fcntl.LOCK_EX)
        held: list[tuple[str, int]] = []
        for gpu in pool:
            path = lock_dir / _lock_name(gpu)
            fd = _open_lock(path)
            try:
                flock_or_explain(fd, path, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            # Free, but a process of the job that held it may still hold the GPU.
            if members.wait_gone(members.members_dir(path), what=f"GPU {gpu}"):
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"pid={os.getpid()} uid={os.getuid()} {label}\n".encode())
            held.append((gpu, fd))
            if len(held) == n:
                return held
        for _, fd in held:
            os.close(fd)
        return None
    finally:
        os.close(guard)


@contextlib.contextmanager
def job_devices(
    gpus_per_job: int,
    cpu_ranks: int,
    device: str,
    pool: list[str] | None,
    lock_dir: str | Path,
    timeout_s: float | None = None,
    label: str = "",
    tensor_parallel_size: int = 1,
) -> Iterator[Devices]:
    """The devices of one infer job, held until the block exits.

    A job on GPUs runs one rank per `tensor_parallel_size` of them (one engine each).
    """
    tp = tensor_parallel_size
    if gpus_per_job == 0:
        yield Devices([], cpu_ranks, cpu=True, source="none")
        return
    cpu = device == "cpu"
    if os.environ.get("SLURM_JOB_ID"):
        ids = visible_gpus() or []
        if not ids:
            raise GpuClaimError(
                "SLURM gave this job no GPU (CUDA_VISIBLE_DEVICES is unset or empty); "
                "does the rule's `gpu` resource reach sbatch?"
            )
        if len(ids) <= gpus_per_job:
            if len(ids) < gpus_per_job:
                log.warning("SLURM gave %d GPU(s) for gpus_per_job %d", len(ids), gpus_per_job)
            if len(ids) % tp:
                raise GpuClaimError(
                    f"SLURM gave {len(ids)} GPU(s) ({','.join(ids)}), not a multiple of "
                    f"vllm.tensor_parallel_size {tp}"
                )
            yield Devices(ids, len(ids) // tp, cpu=cpu, source="slurm")
            return
        pool = ids  # one allocation shared by several jobs (snakemake inside salloc)
    elif pool is None:
        pool = usable_gpus()
    if not pool:
        raise GpuClaimError(
            "no GPU is visible to claim from: set gpus_per_job: 0 for CPU ranks, "
            "or gpu_ids to the ids to use"
        )
    with claim(pool, gpus_per_job, lock_dir, timeout_s, label=label) as ids:
        yield Devices(ids, gpus_per_job // tp, cpu=cpu, source="claimed")
