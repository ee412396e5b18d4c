"""No process of a run outlives its parent: Linux's parent-death signal.

A `kill -9` of `launch` must not leave ranks (or their engines, holding GPU memory)
running: a rerun would race them on the journals and the GPUs. This module imports
nothing heavy, so a rank arms it before torch or vLLM are imported.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import sys
import threading
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int | None = None) -> None:
    """Ask Linux to SIGKILL this process when its parent dies.

    With `parent` (the pid that started this process): if it died before this call,
    the signal would never come, so the process exits at once instead.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


_forking_pid = 0


def _before_fork() -> None:
    global _forking_pid
    _forking_pid = os.getpid()


def die_with_parent_and_children() -> None:
    """`die_with_parent` here and in every process forked from here on (vLLM's
    EngineCore among them, which has no parent check of its own). A process started
    with `spawn` re-imports the rank's main module, which arms it again."""
    die_with_parent()
    os.register_at_fork(before=_before_fork, after_in_child=lambda: die_with_parent(_forking_pid))


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def snakemake_ancestor() -> int | None:
    """The nearest ancestor that is a Snakemake process (`snakemake ...` or
    `python -m snakemake ...`), or None outside Snakemake."""
    pid = os.getppid()
    while pid > 1:
        argv = _cmdline(pid)
        head = [os.path.basename(a) for a in argv[:3]]
        if "snakemake" in head:
            return pid
        pid = _ppid(pid)
    return None


def die_with(pid: int) -> None:
    """SIGKILL this process as soon as process `pid` (not necessarily its parent) ends.

    A rule's script runs under a shell that Snakemake started: when Snakemake is killed,
    the shell is reparented and lives on, so the parent-death signal of the script
    would never come. A thread waits on a pidfd of `pid` instead; children started with
    `die_with_parent` then follow this process.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        os.kill(os.getpid(), signal.SIGKILL)
        return
    except OSError:  # a kernel without pidfds (before 5.3): no lifeline
        return

    def wait() -> None:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while not poller.poll():
            pass
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=wait, name="lifeline", daemon=True).start()


def die_with_snakemake() -> None:
    """`die_with` the Snakemake process that runs this job, if there is one."""
    pid = snakemake_ancestor()
    if pid is not None:
        die_with(pid)
