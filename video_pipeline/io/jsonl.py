"""JSONL reading that survives torn lines, and an index by byte offsets.

The index keeps two numpy arrays (offsets and key hashes), not Python objects per row,
so a rank's memory does not grow with the size of its input.
"""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from video_pipeline.io.keys import key_hash, line_key, row_key


class RowError(ValueError):
    """A line of the input that cannot become a sample."""


def dumps_text(obj: Any, default: Any = None, indent: int | None = None) -> str:
    """JSON text that UTF-8 can always encode.

    Non-ASCII text is kept as is; a string that UTF-8 cannot hold (a lone surrogate,
    as `json.loads` returns for an escaped invalid file name) makes the whole text ASCII
    with JSON escapes instead, which reads back to the identical string.
    """
    text = json.dumps(obj, ensure_ascii=False, default=default, indent=indent)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, ensure_ascii=True, default=default, indent=indent)
    return text


def dumps_line(obj: Any, default: Any = None) -> bytes:
    """One JSON line as UTF-8 bytes, for every JSONL file the pipeline writes."""
    return (dumps_text(obj, default) + "\n").encode("utf-8")


def shown(text: str) -> str:
    """`text` for a terminal or a log: escaped where UTF-8 cannot encode it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return ascii(text)[1:-1]
    return text


def parse_line(line: bytes, lineno: int) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RowError(f"line {lineno} is not valid JSON: {e}") from None
    if not isinstance(row, dict):
        raise RowError(f"line {lineno} is a JSON {type(row).__name__}, not an object")
    return row


def iter_lines(path: str | Path) -> Iterator[tuple[int, int, bytes]]:
    """Yield (offset, 1-based line number, line bytes) for non-blank lines.

    A last line without its newline is a write torn by a crash when the file is a
    journal; for input files it is kept (many editors omit the final newline).
    """
    with open(path, "rb") as f:
        offset = 0
        for lineno, line in enumerate(f, 1):
            if line.strip():
                yield offset, lineno, line
            offset += len(line)


def iter_complete_lines(path: str | Path) -> Iterator[bytes]:
    """Lines of a journal, skipping a torn last line."""
    with open(path, "rb") as f:
        for line in f:
            if line.endswith(b"\n"):
                yield line


@dataclass
class InputIndex:
    """Where each row of an input JSONL starts, and the hash of its key."""

    path: str
    offsets: np.ndarray  # int64, one per non-blank line
    linenos: np.ndarray  # int64
    hashes: np.ndarray  # int64 key hashes

    def __len__(self) -> int:
        return len(self.offsets)

    @classmethod
    def build(cls, path: str | Path, video_field: str, id_field: str | None) -> InputIndex:
        # array("q") holds 8 bytes a row; lists of Python ints would hold about 36.
        offsets, linenos, hashes = array("q"), array("q"), array("q")
        for offset, lineno, line in iter_lines(path):
            offsets.append(offset)
            linenos.append(lineno)
            hashes.append(key_hash(_safe_key(line, lineno, video_field, id_field)))
        return cls(
            path=str(path),
            offsets=np.frombuffer(offsets, dtype=np.int64),
            linenos=np.frombuffer(linenos, dtype=np.int64),
            hashes=np.frombuffer(hashes, dtype=np.int64),
        )

    def first_occurrence(self) -> np.ndarray:
        """Boolean mask: True for the first row of each key (duplicates are run once)."""
        # A stable sort puts each key's rows in input order, so every row equal to its
        # predecessor in sorted order is a repeat. (np.unique(return_index=True) does the
        # same with twice the temporary arrays.)
        order = np.argsort(self.hashes, kind="stable")
        ordered = self.hashes[order]
        repeat = np.zeros(len(self), dtype=bool)
        np.equal(ordered[1:], ordered[:-1], out=repeat[1:])
        del ordered
        mask = np.ones(len(self), dtype=bool)
        mask[order[repeat]] = False
        return mask


class RowReader:
    """Random access to rows by index, safe across threads (positioned reads, no shared
    file offset: the prefetch thread and the decode feed read rows at once) and forks
    (the file is reopened in a child)."""

    CHUNK = 65536

    def __init__(self, index: InputIndex) -> None:
        self.index = index
        self._fd = -1
        self._pid = -1

    def read(self, i: int) -> tuple[int, bytes]:
        if self._pid != os.getpid():
            self._fd = os.open(self.index.path, os.O_RDONLY)  # kept open on purpose
            self._pid = os.getpid()
        offset = int(self.index.offsets[i])
        parts = []
        while True:
            chunk = os.pread(self._fd, self.CHUNK, offset)
            end = chunk.find(b"\n")
            if end >= 0:
                parts.append(chunk[: end + 1])
                break
            if not chunk:
                break
            parts.append(chunk)
            offset += len(chunk)
        return int(self.index.linenos[i]), b"".join(parts)

    def __getstate__(self) -> dict[str, Any]:
        return {"index": self.index, "_fd": -1, "_pid": -1}


def _safe_key(line: bytes, lineno: int, video_field: str, id_field: str | None) -> str:
    try:
        return row_key(parse_line(line, lineno), video_field, id_field)
    except (RowError, KeyError):
        return line_key(lineno)


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Plain reader for small files the pipeline wrote itself (torn last line skipped)."""
    for line in iter_complete_lines(path):
        if line.strip():
            yield json.loads(line)
