"""The finished records of one task, read where a run left them.

A merged output (`data.output_jsonl` and `<stem>.errors.jsonl`) is read as is. Before
a merge, the rank journals are read instead: records of the current fingerprint only,
each key once (a result over an earlier error, else the first record), as merge would
write them. Each record comes with its place on disk, so that a report can read the
few records it shows again without holding the others in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from video_pipeline.io.journal import journal_paths, output_stem, read_head
from video_pipeline.io.keys import key_hash


@dataclass(frozen=True)
class RecordSource:
    """Files holding a task's records; `fingerprint` set means journals (filter, dedupe)."""

    files: tuple[str, ...]
    fingerprint: str | None = None

    @property
    def merged(self) -> bool:
        return self.fingerprint is None

    def __iter__(self) -> Iterator[tuple[int, int, dict[str, Any]]]:
        """(file index, byte offset, record) of every record."""
        if self.merged:
            for i, path in enumerate(self.files):
                for offset, rec in _records(path):
                    yield i, offset, rec
            return
        yield from self._journal_records()

    def _journal_records(self) -> Iterator[tuple[int, int, dict[str, Any]]]:
        decoder = json.JSONDecoder()
        ok_keys: set[int] = set()
        for path in self.files:  # pass 1: keys with a result win over their errors
            with open(path, "rb") as f:
                for line in f:
                    head = read_head(line, decoder)
                    if head and head[2] == self.fingerprint and head[1] == "ok":
                        ok_keys.add(key_hash(head[0]))
        seen: set[int] = set()
        for i, path in enumerate(self.files):
            for offset, rec in _records(path):
                if rec.get("fingerprint") != self.fingerprint:
                    continue
                h = key_hash(str(rec["__key"]))
                if h in seen or (rec.get("status") != "ok" and h in ok_keys):
                    continue
                seen.add(h)
                yield i, offset, rec

    def read(self, file_index: int, offset: int) -> dict[str, Any]:
        with open(self.files[file_index], "rb") as f:
            f.seek(offset)
            return json.loads(f.readline())


def _records(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(offset, record) of each complete line; a torn or corrupt line is skipped."""
    if not Path(path).exists():
        return
    with open(path, "rb") as f:
        offset = 0
        for line in f:
            start, offset = offset, offset + len(line)
            if not line.endswith(b"\n") or not line.strip():
                continue
            try:
                rec = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(rec, dict) and "__key" in rec:
                yield start, rec


def errors_path(output_jsonl: str | Path) -> str:
    return f"{output_stem(output_jsonl)}.errors.jsonl"


def task_source(output_jsonl: str | Path, fingerprint: str, prefer: str = "auto") -> RecordSource:
    """The merged output when it exists (`prefer="auto"`), else the rank journals.

    `prefer="journals"` reads the journals even when a merged output exists (at the end
    of a run, before or without `--merge`).
    """
    out = str(output_jsonl)
    if prefer == "auto" and Path(out).exists():
        return RecordSource((out, errors_path(out)))
    return RecordSource(tuple(str(p) for p in journal_paths(out)), fingerprint)
