"""The finished records of one task, read where a run left them.

A merged output (`data.output_jsonl` and `<stem>.errors.jsonl`) is read as is when its
manifest vouches for it (io/outputs.py). Before a merge, or after one a kill left
incomplete, the rank journals are read instead: records of the current fingerprint
only, each key once, chosen exactly as merge chooses them (`merge.collect`). Each
record comes with its place on disk, so that a report can read the few records it
shows again without holding the others in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from video_pipeline.io.journal import iter_records, journal_paths, output_stem
from video_pipeline.io.record import Record


@dataclass(frozen=True)
class RecordSource:
    """Files holding a task's records; `fingerprint` set means journals (filter, dedupe)."""

    files: tuple[str, ...]
    fingerprint: str | None = None

    @property
    def merged(self) -> bool:
        return self.fingerprint is None

    def __iter__(self) -> Iterator[tuple[int, int, Record]]:
        """(file index, byte offset, record) of every record."""
        if self.merged:
            for i, path in enumerate(self.files):
                for offset, rec in iter_records(path):
                    yield i, offset, rec
            return
        yield from self._journal_records()

    def _journal_records(self) -> Iterator[tuple[int, int, Record]]:
        from video_pipeline.merge import collect

        best, _dups = collect([Path(p) for p in self.files], self.fingerprint or "")
        chosen = {(j, offset) for j, offset, _ok in best.values()}
        for i, path in enumerate(self.files):
            for offset, rec in iter_records(path):
                if (i, offset) in chosen:
                    yield i, offset, rec

    def read(self, file_index: int, offset: int) -> Record:
        """The record at `offset` of file `file_index` (a place iterating gave)."""
        with open(self.files[file_index], "rb") as f:
            f.seek(offset)
            return Record.from_dict(json.loads(f.readline()))


def errors_path(output_jsonl: str | Path) -> str:
    return f"{output_stem(output_jsonl)}.errors.jsonl"


def task_source(output_jsonl: str | Path, fingerprint: str, prefer: str = "auto") -> RecordSource:
    """The merged output when it exists (`prefer="auto"`), else the rank journals.

    `prefer="journals"` reads the journals even when a merged output exists (at the end
    of a run, before or without `--merge`).
    """
    from video_pipeline.io.outputs import problems
    from video_pipeline.merge import manifest_path

    out = str(output_jsonl)
    # the set's manifest: launch's merge report, or the workflow's task stats
    manifests = (manifest_path(out), Path(f"{output_stem(out)}.stats.json"))
    if prefer == "auto" and Path(out).exists() and any(not problems(m) for m in manifests):
        return RecordSource((out, errors_path(out)))
    return RecordSource(tuple(str(p) for p in journal_paths(out)), fingerprint)
