"""The per-video roll-up: a task's clip records -> one line per video.

Each line holds a video's clips in time order, each with its result or error (or
`"status": "pending"` while it has no record), the video's duration and the user's row:

    {"__key": "/data/a.mp4", "status": "partial", "duration": 301.2, "start": 0.0,
     "end": 301.2, "ok": 9, "failed": 1, "pending": 0, "error": null,
     "raw": {"path": "/data/a.mp4", ...}, "clips": [{"__key": "/data/a.mp4#t=0,30",
     "clip": {"index": 0, "start": 0.0, "end": 30.0}, "status": "ok", "result": ...}, ...]}

The clip rows (what expansion wrote) say which clips a video has; the records (merged
results and errors) say how each went. Records of one video may lie anywhere in their
files, and a run may hold millions, so both go into a temporary SQLite database beside
the output and come out sorted by video (in input order) and time: memory stays at
SQLite's page cache whatever the size of the run.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from video_pipeline.clips.expand import (
    ADDED_FIELDS,
    CLIP_FIELD,
    DURATION_FIELD,
    ERROR_FIELD,
    ERROR_KIND_FIELD,
    VIDEO_KEY_FIELD,
)
from video_pipeline.io.atomic import atomic_writer
from video_pipeline.io.journal import parse_record, read_head
from video_pipeline.io.jsonl import dumps_line, dumps_text, iter_complete_lines
from video_pipeline.io.keys import KEY_FIELD
from video_pipeline.io.record import Record

_CACHE_KIB = 64 * 1024  # SQLite page cache; sorting spills to temporary files beyond it
_BATCH = 5000
_USER_FIELDS_DROPPED = {*ADDED_FIELDS, ERROR_FIELD, ERROR_KIND_FIELD}
_CLIP_FIELDS_DROPPED = {KEY_FIELD, "raw", VIDEO_KEY_FIELD, CLIP_FIELD}


@dataclass
class RollupReport:
    output: str
    videos: int = 0
    clips: int = 0
    ok: int = 0  # clips with a result
    failed: int = 0  # clips with an error
    pending: int = 0  # clips without a record yet
    video_errors: int = 0  # videos that failed as a whole (could not be probed)
    complete: int = 0  # videos whose every clip has a record
    orphans: int = 0  # records of keys no clip row names (another run's, or stray)

    def summary(self) -> str:
        return (
            f"rolled up {self.clips} clips of {self.videos} videos: ok={self.ok} "
            f"failed={self.failed} pending={self.pending}; {self.complete} videos complete, "
            f"{self.video_errors} failed whole -> {self.output}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_rollup(
    records: Sequence[str | Path],
    output: str | Path,
    clip_rows: Sequence[str | Path] | None = None,
) -> RollupReport:
    """Write one line per video of `clip_rows` (clip-row files, in input order) to
    `output`, from the clip records in `records` (e.g. a merge's results and errors).

    Without `clip_rows`, the records' own `raw` rows stand for them: clips with no
    record are then unknown rather than pending. Where a key has several records, a
    result wins over an error, as in merge.
    """
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = RollupReport(str(out))
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        db = _open_db(Path(tmp) / "rollup.sqlite")
        try:
            _load_records(db, records)
            rows = _rows_of_files(clip_rows) if clip_rows is not None else _rows_of_records(db)
            _load_rows(db, rows)
            with atomic_writer(out) as fh:
                for line in _video_lines(db, report):
                    fh.write(dumps_line(line))
            report.orphans = db.execute(
                "SELECT count(*) FROM records WHERE key NOT IN (SELECT key FROM rows)"
            ).fetchone()[0]
        finally:
            db.close()
    return report


def _open_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=FILE"):
        db.execute(f"PRAGMA {pragma}")
    db.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
    db.executescript(
        """
        CREATE TABLE records (key TEXT PRIMARY KEY, ok INTEGER, line BLOB);
        CREATE TABLE videos (video TEXT PRIMARY KEY, seq INTEGER, duration REAL, raw TEXT);
        CREATE TABLE rows (vseq INTEGER, key TEXT, has_clip INTEGER, start REAL,
                           end_ REAL, idx INTEGER, clip TEXT, UNIQUE (vseq, key));
        """
    )
    return db


def _load_records(db: sqlite3.Connection, paths: Sequence[str | Path]) -> None:
    decoder = json.JSONDecoder()

    def heads() -> Iterator[tuple[bytes, int, bytes]]:
        for path in paths:
            for line in iter_complete_lines(path):
                head = read_head(line, decoder)
                if head is not None:
                    yield _stored(head.key), int(head.status == "ok"), line

    for batch in _batches(heads()):
        db.executemany(
            "INSERT INTO records VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
            "ok = excluded.ok, line = excluded.line WHERE excluded.ok > records.ok",
            batch,
        )
    db.commit()


def _rows_of_files(paths: Sequence[str | Path]) -> Iterator[dict[str, Any]]:
    for path in paths:
        for line in iter_complete_lines(path):
            if line.strip():
                yield json.loads(line)


def _rows_of_records(db: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    for (line,) in db.execute("SELECT line FROM records ORDER BY rowid"):
        raw = _record(line).raw
        if isinstance(raw, dict) and KEY_FIELD in raw:
            yield raw


def _load_rows(db: sqlite3.Connection, rows: Iterable[dict[str, Any]]) -> None:
    """Videos in order of their first row; each row under its video."""
    cur = db.cursor()
    seq = 0
    for batch in _batches(rows):
        for row in batch:
            key = str(row[KEY_FIELD])
            video = _stored(str(row.get(VIDEO_KEY_FIELD) or key))
            key = _stored(key)
            user = {k: v for k, v in row.items() if k not in _USER_FIELDS_DROPPED}
            cur.execute(
                "INSERT OR IGNORE INTO videos VALUES (?, ?, ?, ?)",
                (video, seq, row.get(DURATION_FIELD), dumps_text(user)),
            )
            seq += cur.rowcount
            clip = row.get(CLIP_FIELD)
            has = isinstance(clip, dict) and "start" in clip and "end" in clip
            cur.execute(
                "INSERT OR IGNORE INTO rows SELECT seq, ?, ?, ?, ?, ?, ? FROM videos "
                "WHERE video = ?",
                (
                    key,
                    int(has),
                    clip.get("start") if has else None,
                    clip.get("end") if has else None,
                    clip.get("index") if has else None,
                    json.dumps(clip) if has else None,
                    video,
                ),
            )
    db.execute("CREATE INDEX rows_order ON rows (vseq, has_clip, start, end_, idx)")
    db.execute("CREATE INDEX rows_key ON rows (key)")
    db.commit()


def _video_lines(db: sqlite3.Connection, report: RollupReport) -> Iterator[dict[str, Any]]:
    query = (
        "SELECT r.vseq, v.video, v.duration, v.raw, r.key, r.clip, rec.line "
        "FROM rows r JOIN videos v ON v.seq = r.vseq "
        "LEFT JOIN records rec ON rec.key = r.key "
        "ORDER BY r.vseq, r.has_clip, r.start, r.end_, r.idx"
    )
    current, video = None, None
    for vseq, name, duration, raw, key, clip, line in db.execute(query):
        if vseq != current:
            if video is not None:
                yield _finish(video, report)
            current = vseq
            video = {"name": _text(name), "duration": duration, "raw": json.loads(raw), "clips": []}
            video.update(error=None, error_pending=False)
        rec = _record(line) if line is not None else None
        if clip is None:  # the video failed as a whole: its one error row
            video["error"] = rec.error if rec else None
            video["error_pending"] = rec is None
            continue
        entry: dict[str, Any] = {KEY_FIELD: _text(key), CLIP_FIELD: json.loads(clip)}
        if rec is None:
            entry["status"] = "pending"
        else:
            entry.update((k, v) for k, v in rec.to_dict().items() if k not in _CLIP_FIELDS_DROPPED)
        video["clips"].append(entry)
    if video is not None:
        yield _finish(video, report)


def _finish(video: dict[str, Any], report: RollupReport) -> dict[str, Any]:
    clips = video["clips"]
    counts = {s: sum(c.get("status") == s for c in clips) for s in ("ok", "error", "pending")}
    error = video["error"]
    pending = counts["pending"] + int(video["error_pending"])
    if pending:
        status = "pending"
    elif error is not None or (clips and counts["ok"] == 0):
        status = "error"
    else:
        status = "ok" if counts["error"] == 0 else "partial"
    report.videos += 1
    report.clips += len(clips)
    report.ok += counts["ok"]
    report.failed += counts["error"]
    report.pending += counts["pending"]
    report.video_errors += error is not None
    report.complete += pending == 0
    return {
        KEY_FIELD: video["name"],
        "status": status,
        "duration": video["duration"],
        "start": clips[0][CLIP_FIELD]["start"] if clips else None,
        "end": clips[-1][CLIP_FIELD]["end"] if clips else None,
        "ok": counts["ok"],
        "failed": counts["error"],
        "pending": counts["pending"],
        "error": error.to_dict() if error is not None else None,
        "raw": video["raw"],
        "clips": clips,
    }


def _record(line: bytes) -> Record:
    """A record the database holds (read_head accepted its line)."""
    rec = parse_record(line)
    assert rec is not None
    return rec


def _stored(key: str) -> bytes:
    """A key as SQLite holds it: UTF-8 bytes, which can hold a lone surrogate (a file
    name that is not UTF-8) where SQLite's text cannot."""
    return key.encode("utf-8", "surrogatepass")


def _text(stored: bytes) -> str:
    return stored.decode("utf-8", "surrogatepass")


def _batches(items: Iterable[Any]) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
