"""Per-rank journals: one JSON line per finished sample, appended as it finishes.

Journals are named `<output stem>.rank{r}.jsonl` (so the seed's `cat` merge works).
Every record starts with its `__key` and carries the config fingerprint, which lets a
resume scan a million lines in about a second without a full JSON parse.
"""

from __future__ import annotations

import glob
import json
import os
import re
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from video_pipeline.io.jsonl import dumps_line
from video_pipeline.io.keys import KEY_FIELD, key_hash, key_hash_utf8
from video_pipeline.io.record import Record

_RANK_RE = re.compile(r"\.rank(\d+)\.jsonl$")


def output_stem(output_jsonl: str | Path) -> str:
    s = str(output_jsonl)
    return s[: -len(".jsonl")] if s.endswith(".jsonl") else s


def journal_path(output_jsonl: str | Path, rank: int) -> Path:
    return Path(f"{output_stem(output_jsonl)}.rank{rank}.jsonl")


def stats_path(output_jsonl: str | Path, rank: int) -> Path:
    """`<stem>.rank{r}.stats.json`: the stats a rank leaves beside its journal."""
    return Path(f"{output_stem(output_jsonl)}.rank{rank}.stats.json")


def journal_rank(path: str | Path) -> int:
    """The rank that wrote the journal `path`."""
    m = _RANK_RE.search(str(path))
    if m is None:
        raise ValueError(f"{path} is not a rank journal")
    return int(m.group(1))


def journal_paths(output_jsonl: str | Path) -> list[Path]:
    """Every rank journal of an output, whatever the number of ranks that wrote them."""
    stem = glob.escape(output_stem(output_jsonl))
    found = [Path(p) for p in glob.glob(f"{stem}.rank*.jsonl") if _RANK_RE.search(p)]
    return sorted(found, key=journal_rank)


def repair_torn_tail(path: Path) -> int:
    """Cut a last line left without its newline by a crash; returns bytes removed."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as f:
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        # Walk back to the last newline; journals are small per line, so read blocks.
        pos = size
        while pos > 0:
            step = min(65536, pos)
            f.seek(pos - step)
            block = f.read(step)
            nl = block.rfind(b"\n")
            if nl >= 0:
                pos = pos - step + nl + 1
                break
            pos -= step
        f.truncate(pos)
        return size - pos


class JournalWriter:
    """Appends records; flushes every `flush_every` and fsyncs every `fsync_every`."""

    def __init__(self, path: Path, flush_every: int = 1, fsync_every: int = 10) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        repair_torn_tail(path)
        self._f = open(path, "ab")  # noqa: SIM115 (lives as long as the writer)
        self.flush_every = flush_every
        self.fsync_every = fsync_every
        self._n = 0

    def write(self, record: Record) -> None:
        # `to_dict` puts HEAD_FIELDS first, the order scan_done and read_head rely on
        self._f.write(dumps_line(record.to_dict(), default=_json_default))
        self._n += 1
        if self._n % self.flush_every == 0:
            self._f.flush()
        if self.fsync_every and self._n % self.fsync_every == 0:
            self._f.flush()
            os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f.closed:
            return
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_records(path: str | Path) -> Iterator[tuple[int, Record]]:
    """(byte offset, record) of each record of a journal or a merged output.

    A torn last line (a write cut by a crash), a corrupt line or one that is not a
    record is skipped, and a missing file has none: readers of a live run see what
    is complete so far.
    """
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        return
    with f:
        offset = 0
        for line in f:
            start, offset = offset, offset + len(line)
            if not line.endswith(b"\n") or not line.strip():
                continue
            try:
                rec = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(rec, dict) and KEY_FIELD in rec:
                yield start, Record.from_dict(rec)


HEAD_FIELDS = (KEY_FIELD, "status", "fingerprint")
_HEAD = b'{"' + KEY_FIELD.encode() + b'": '
_STATUS_SEP = b'", "status": "'
_TAIL_RE = re.compile(r', "status": "(\w+)", "fingerprint": "(\w*)"')


class Head(NamedTuple):
    key: str
    status: str
    fingerprint: str


def read_head(line: bytes, decoder: json.JSONDecoder) -> Head | None:
    """(key, status, fingerprint) of a complete journal line; None for anything else.

    Lines as `JournalWriter` writes them are read from their first fields alone;
    any other valid record (other spacing, field order or writer) is parsed whole,
    so a change of writer makes reading slower, never wrong.
    """
    if not line.endswith(b"\n"):
        return None
    if line.startswith(_HEAD):
        try:
            text = line.decode("utf-8")
            key, end = decoder.raw_decode(text, len(_HEAD))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        m = _TAIL_RE.match(text, end)
        if m is not None and isinstance(key, str):
            return Head(key, m.group(1), m.group(2))
    rec = parse_record(line)
    if rec is None:
        return None
    return Head(rec.key, rec.status, rec.fingerprint)


def parse_record(line: bytes) -> Record | None:
    """A whole journal record, or None for a line that is not one."""
    try:
        rec = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get(KEY_FIELD), str):
        return None
    return Record.from_dict(rec)


def scan_done(paths: list[Path], fingerprint: str, include_errors: bool = True) -> np.ndarray:
    """Hashes of the keys already finished under `fingerprint`, as a sorted int64 array.

    Finished means a result, or (with `include_errors`) a permanent error: a transient
    one (an internal or engine error) is done again by the next run. Results as the
    writer writes them take a bytes-only fast path that parses nothing (a full
    `json.loads` of every record would make resuming a large run slow); errors, and
    lines in any other form, are parsed whole.
    """
    ok_tail = b'ok", "fingerprint": "' + fingerprint.encode() + b'"'
    start = len(_HEAD) + 1  # first byte of the key, after its opening quote
    hashes = array("q")  # 8 bytes a key, not a Python int object
    for path in paths:
        with open(path, "rb") as f:
            for line in f:
                end = line.find(_STATUS_SEP, start)
                key = line[start:end]
                if (
                    end > 0
                    and line.startswith(_HEAD)
                    and line.endswith(b"\n")
                    and line.startswith(ok_tail, end + len(_STATUS_SEP))
                    and b"\\" not in key
                    and b'"' not in key
                ):
                    hashes.append(key_hash_utf8(key))
                    continue
                if not line.endswith(b"\n") or (rec := parse_record(line)) is None:
                    continue
                if rec.fingerprint != fingerprint:
                    continue
                if rec.ok or (include_errors and rec.status and not rec.transient):
                    hashes.append(key_hash(rec.key))
    return np.unique(np.frombuffer(hashes, dtype=np.int64))


def _json_default(obj: object) -> object:
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return repr(obj)
