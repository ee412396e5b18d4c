"""One writer per output: an exclusive lock on `<output stem>.lock`.

The lock is an `flock` on the file, so the kernel drops it when its holder dies (a
`kill -9` included): a lock file left behind by a dead process is taken over at once,
and two runs on one output can never both hold it. The file names its holder (pid,
host, command, start time) so a refused run can say who holds it. The run's ranks and
engine processes register as members of the lock (runner/members.py): the next run
waits until they are gone, so it never races a rank of a killed run still writing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from video_pipeline.io.journal import output_stem
from video_pipeline.runner import members


class LockHeld(RuntimeError):
    """Another process writes the same output."""


class LockUnsupported(RuntimeError):
    """The file system does not implement flock."""


NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


def flock_or_explain(fd: int, path: Path, flags: int) -> None:
    """`fcntl.flock`, with a clear message where the file system has no flock."""
    try:
        fcntl.flock(fd, flags)
    except OSError as e:
        if e.errno in NO_FLOCK:
            raise LockUnsupported(
                f"the file system holding {path} does not support flock ({e.strerror}), "
                "as on some Lustre and NFS mounts; put it on a file system that does "
                "(a local disk, or Lustre mounted with -o flock)"
            ) from None
        raise


def lock_path(output_jsonl: str | Path) -> Path:
    return Path(f"{output_stem(output_jsonl)}.lock")


class OutputLock:
    """`with OutputLock(cfg.data.output_jsonl):` around everything that writes the outputs."""

    def __init__(self, output_jsonl: str | Path, command: list[str] | None = None) -> None:
        self.path = lock_path(output_jsonl)
        self.command = command if command is not None else sys.argv
        self.members = members.members_dir(self.path)
        self.previous: dict[str, Any] | None = None  # a dead holder's note we replaced
        self._fd: int | None = None

    def acquire(self) -> OutputLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                flock_or_explain(fd, self.path, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                    raise
                raise LockHeld(self._held_message()) from None
            except LockUnsupported:
                os.close(fd)
                raise
            # The holder before us may have unlinked the file after we opened it: a lock
            # on an unlinked inode guards nothing, so start over on the current file.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        left = members.wait_gone(self.members, what=f"output lock {self.path}")
        if left:
            os.close(fd)
            raise LockHeld(
                f"process(es) {' '.join(map(str, left))} of an earlier run on this output "
                "are still alive and could not be stopped; stop them, then rerun"
            )
        self.previous = _parse(os.pread(fd, 65536, 0))
        note = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": " ".join(self.command),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(note) + "\n").encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        # Unlink while still holding the lock, so no one locks this inode after us.
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _held_message(self) -> str:
        try:
            note = _parse(self.path.read_bytes()) or {}
        except OSError:
            note = {}
        who = (
            f"pid {note.get('pid', '?')} on host {note.get('host', '?')}, "
            f"running since {note.get('started', '?')}: {note.get('command', '?')}"
        )
        return (
            f"another process is writing this output ({who}). Wait for it to finish or "
            f"stop it; two writers would corrupt the results. Lock file: {self.path}"
        )


def _parse(data: bytes) -> dict[str, Any] | None:
    try:
        note = json.loads(data.decode("utf-8", "replace") or "null")
    except json.JSONDecodeError:
        return None
    return note if isinstance(note, dict) else None
