"""No process of a run outlives its parent: Linux's parent-death signal.

A `kill -9` of `launch` must not leave ranks (or their engines, holding GPU memory)
running: a rerun would race them on the journals and the GPUs. This module imports
nothing heavy, so a rank arms it before torch or vLLM are imported.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

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
