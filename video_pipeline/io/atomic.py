"""Files replaced whole or not at all: every file the pipeline publishes goes through here.

A file is written under `<name>.tmp<pid>` in its own folder (so the rename cannot cross
file systems), flushed and fsynced, renamed over its target, and the folder is fsynced
so that the rename itself survives a power loss. A process killed at any point leaves
the old file or none, never a torn one; the temp name carries the writer's pid, so a
later run can tell a dead writer's leftovers (merge, verify) from a live one's.

`durable=False` keeps the temp-and-rename (a killed process still leaves the old file
or the new one) but skips both fsyncs: for files that are informational or rebuilt by
the next run (rank stats, report pages, the fetch cache), where a power loss may at
worst leave an empty file and two fsyncs a write would be paid for nothing.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def temp_path(path: str | Path) -> Path:
    """Where `path`'s next content is written before the rename: beside it."""
    path = Path(path)
    return path.with_name(f"{path.name}.tmp{os.getpid()}")


def fsync_dir(folder: str | Path) -> None:
    """Make the renames in `folder` durable (a no-op where the file system cannot)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as e:  # some network file systems refuse fsync on a folder
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def replace(tmp: str | Path, path: str | Path, durable: bool = True) -> None:
    """Rename the finished `tmp` over `path`; with `durable`, fsync their folder."""
    os.replace(tmp, path)
    if durable:
        fsync_dir(Path(path).parent)


class Staged:
    """`path`'s next content, written at `tmp` and moved into place by `commit`.

    For sets of files published together (shards, a merge and its manifest): write
    every one, then commit them. `discard` (or leaving a `with` block) deletes a temp
    file that was not committed. The temp file may also be written by someone else
    (a download, another writer given `tmp`): `commit` then fsyncs it first.
    """

    def __init__(self, path: str | Path, durable: bool = True) -> None:
        self.path = Path(path)
        self.tmp = temp_path(self.path)
        self.durable = durable
        self._file: IO[Any] | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def open(self, mode: str = "wb", encoding: str = "utf-8") -> IO[Any]:
        """The temp file, truncated, open for writing (`mode` "wb" or "w")."""
        self._file = open(self.tmp, mode, encoding=None if "b" in mode else encoding)  # noqa: SIM115 (closed by close/discard)
        return self._file

    def close(self) -> None:
        """Flush (and fsync when durable) and close the temp file; it stays for `commit`."""
        f, self._file = self._file, None
        if f is None or f.closed:
            return
        try:
            f.flush()
            if self.durable:
                os.fsync(f.fileno())
        finally:
            f.close()

    def commit(self) -> None:
        """Rename the complete temp file over `path`."""
        opened = self._file is not None
        self.close()
        if self.durable and not opened:
            with open(self.tmp, "rb") as f:
                os.fsync(f.fileno())
        replace(self.tmp, self.path, self.durable)

    def discard(self) -> None:
        """Close and delete the temp file; nothing to do after `commit`."""
        f, self._file = self._file, None
        if f is not None:
            f.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> Staged:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


@contextmanager
def atomic_writer(
    path: str | Path, mode: str = "wb", durable: bool = True, encoding: str = "utf-8"
) -> Iterator[IO[Any]]:
    """A file to stream into (e.g. a large JSONL); it replaces `path` when the block
    ends without an exception, and is deleted otherwise."""
    with Staged(path, durable) as staged:
        yield staged.open(mode, encoding)
        staged.commit()


def atomic_write(path: str | Path, data: str | bytes, durable: bool = True) -> None:
    """`path` replaced by `data` (text is written as UTF-8)."""
    with atomic_writer(path, "wb", durable) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)


def write_json(
    path: str | Path,
    data: Any,
    indent: int | None = 2,
    default: Any = None,
    durable: bool = True,
) -> None:
    """`path` replaced by `data` as ASCII JSON and a newline."""
    text = json.dumps(data, indent=indent, ensure_ascii=True, default=default) + "\n"
    atomic_write(path, text, durable)


def publish_dir(
    out: str | Path, marker: str, expected: dict[str, Any], build: Callable[[Path], None]
) -> Path:
    """A folder built whole or not at all, once: `build` writes into a sibling temp
    folder, which gets `marker` (holding `expected`) and is renamed onto `out`. A folder
    already marked with `expected` is returned as it is, one marked otherwise is an
    error, and a concurrent builder that won the rename is accepted (its marker checked).
    """
    import shutil
    import tempfile

    out = Path(out).resolve()
    done = out / marker
    if done.is_file():
        found = json.loads(done.read_text())
        if found != expected:
            raise ValueError(f"{out} holds a different build: {found}, not {expected}")
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    os.chmod(tmp, 0o755)  # mkdtemp's 0700 would survive the rename
    try:
        build(tmp)
        (tmp / marker).write_text(json.dumps(expected))
        try:
            # rename() replaces an empty folder (e.g. pytest's tmp_path) atomically.
            os.rename(tmp, out)
        except OSError as err:
            if not done.is_file():  # not a concurrent winner: foreign content
                raise FileExistsError(f"{out} is not empty and holds no such build") from err
            return publish_dir(out, marker, expected, build)  # check the winner's marker
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
