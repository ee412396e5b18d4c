"""The processes that use a lock, so that no one takes it while one of them lives.

An `flock` is dropped when its holder dies, but the holder's children die a moment
later, or not at all: a rank killed with `kill -9` leaves vLLM's EngineCore process
holding the GPU's memory while it is torn down. So every process of a run (ranks and
their engine processes) registers itself beside each lock the run holds, as
`<lock>.members/<pid>-<start time>`, and whoever takes the lock next waits until the
registered processes are gone. A member that outlives its run (it has no live run to
belong to, since the lock was free) is killed after a grace period. The start time
(from /proc) tells a live member from a new process that reuses its pid.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger("video_pipeline")

MEMBERS_ENV = "VP_LOCK_MEMBERS"  # member folders of the locks a run holds, os.pathsep-joined


def members_dir(lock_file: str | Path) -> Path:
    lock_file = Path(lock_file)
    return lock_file.with_name(lock_file.name + ".members")


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # a zombie holds nothing any more
        return None
    return fields[19]


def register(pids: Iterable[int], dirs: Iterable[str | Path] | None = None) -> None:
    """Record `pids` as members of each lock in `dirs` (default: from the environment)."""
    if dirs is None:
        dirs = [d for d in os.environ.get(MEMBERS_ENV, "").split(os.pathsep) if d]
    for d in dirs:
        d = Path(d)
        with contextlib.suppress(OSError):
            d.mkdir(mode=0o1777, exist_ok=True)
        for pid in pids:
            started = start_time(pid)
            if started is not None:
                with contextlib.suppress(OSError):
                    (d / f"{pid}-{started}").touch()


def live(d: str | Path) -> list[int]:
    """Registered members still alive; entries of dead ones are removed."""
    d = Path(d)
    if not d.is_dir():
        return []
    out = []
    for entry in d.iterdir():
        pid, _, started = entry.name.partition("-")
        if pid.isdigit() and start_time(int(pid)) == started:
            out.append(int(pid))
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
    return out


def wait_gone(d: str | Path, grace_s: float = 20.0, what: str = "") -> list[int]:
    """Wait for the members of a lock just taken; kill those left after `grace_s`.

    Returns the pids still alive at the end (a process that cannot be killed, or one of
    another user): the lock must then not be used.
    """
    pids = live(d)
    if not pids:
        return []
    log.warning(
        "%s: waiting for %d process(es) of an earlier run to exit: %s",
        what or d,
        len(pids),
        " ".join(map(str, pids)),
    )
    for deadline, sig in ((grace_s, signal.SIGKILL), (10.0, None)):
        end = time.monotonic() + deadline
        while pids and time.monotonic() < end:
            time.sleep(0.1)
            pids = live(d)
        if not pids or sig is None:
            break
        log.warning("%s: killing leftover process(es) %s", what or d, " ".join(map(str, pids)))
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
    return pids
