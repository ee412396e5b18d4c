"""Keys, JSONL indexing and journals (torn lines, fast resume scan)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from video_pipeline.io.journal import (
    JournalWriter,
    iter_records,
    journal_path,
    journal_paths,
    repair_torn_tail,
    scan_done,
)
from video_pipeline.io.jsonl import InputIndex, RowReader
from video_pipeline.io.keys import key_hash, row_key
from video_pipeline.io.record import Record


def test_key_rules():
    row = {"path": "a/b.mp4", "id": 7}
    assert row_key(row, "path", None) == "a/b.mp4"
    assert row_key(row, "path", "id") == "7"
    assert row_key({**row, "__key": "k"}, "path", "id") == "k"
    with pytest.raises(KeyError):
        row_key({"x": 1}, "path", None)
    with pytest.raises(KeyError):
        row_key({"path": "a"}, "path", "id")


def test_key_hash_is_stable():
    # Fixed value: shards must not move between processes or versions.
    assert key_hash("video.mp4") == key_hash("video.mp4")
    assert key_hash("video.mp4") != key_hash("video2.mp4")
    assert 0 <= key_hash("x") < 2**63


def test_index_and_random_access(tmp_path: Path):
    p = tmp_path / "in.jsonl"
    lines = ['{"path": "a.mp4"}', "", "not json", '{"path": "b.mp4"}', '{"path": "a.mp4"}']
    p.write_text("\n".join(lines))  # no final newline: input files may omit it
    idx = InputIndex.build(p, "path", None)
    assert len(idx) == 4  # blank line skipped
    reader = RowReader(idx)
    assert [reader.read(i)[0] for i in range(4)] == [1, 3, 4, 5]
    assert json.loads(reader.read(3)[1]) == {"path": "a.mp4"}
    assert idx.first_occurrence().tolist() == [True, True, True, False]


def _record(key: str, status: str = "ok", fp: str = "f1") -> Record:
    return Record(key, status, fp, "t", {})


def test_journal_torn_tail_is_ignored_and_repaired(tmp_path: Path):
    path = tmp_path / "out.rank0.jsonl"
    with JournalWriter(path) as w:
        w.write(_record("a"))
        w.write(_record("b"))
    with open(path, "ab") as f:
        f.write(b'{"__key": "c", "status": "ok", "finger')  # a crash mid-write
    assert [r.key for _, r in iter_records(path)] == ["a", "b"]
    done = scan_done([path], "f1")
    assert sorted(done.tolist()) == sorted([key_hash("a"), key_hash("b")])
    assert repair_torn_tail(path) > 0
    with JournalWriter(path) as w:  # appending after repair gives whole lines only
        w.write(_record("c"))
    assert [r.key for _, r in iter_records(path)] == ["a", "b", "c"]
    assert path.read_bytes().endswith(b"\n")


def test_record_reader_skips_what_is_not_a_whole_record(tmp_path: Path):
    """Offsets point at each record's line; a corrupt line, a line that is not a
    record, a blank line and a torn last line are passed over; no file, no records."""
    lines = [
        json.dumps(_record("a").to_dict()).encode() + b"\n",
        b'{"__key": "x", "status"\n',  # cut, then appended after
        b"[1, 2]\n",
        b'{"no_key": 1}\n',
        b"\n",
        b"\xff\xfe\n",
        json.dumps(_record("b\u00e9").to_dict()).encode() + b"\n",
        b'{"__key": "c", "status": "ok"}',  # torn: no newline yet
    ]
    path = tmp_path / "out.jsonl"
    path.write_bytes(b"".join(lines))
    got = list(iter_records(path))
    assert [r.key for _, r in got] == ["a", "b\u00e9"]
    with open(path, "rb") as f:
        for offset, rec in got:
            f.seek(offset)
            assert Record.from_dict(json.loads(f.readline())) == rec
    assert list(iter_records(tmp_path / "missing.jsonl")) == []


def test_scan_done_filters_fingerprint_and_errors(tmp_path: Path):
    path = tmp_path / "out.rank1.jsonl"
    with JournalWriter(path) as w:
        w.write(_record("a"))
        w.write(_record("b", status="error"))
        w.write(_record("c", fp="old"))
        # A raw row that mentions the fields must not fool the scan.
        w.write(Record("d", "error", "old", raw={"status": "ok", "fingerprint": "f1"}))
    assert set(scan_done([path], "f1").tolist()) == {key_hash("a"), key_hash("b")}
    assert set(scan_done([path], "f1", include_errors=False).tolist()) == {key_hash("a")}


def test_writer_puts_head_fields_first(tmp_path: Path):
    path = tmp_path / "o.rank0.jsonl"
    with JournalWriter(path) as w:
        w.write(Record.from_dict({"task": "t", "fingerprint": "f", "status": "ok", "__key": "k"}))
    assert path.read_text().startswith('{"__key": "k", "status": "ok", "fingerprint": "f"')


def test_journal_paths_any_rank_count(tmp_path: Path):
    out = tmp_path / "res.describe.jsonl"
    for r in (0, 1, 10):
        journal_path(out, r).write_text("")
    (tmp_path / "res.describe.rank0.stats.json").write_text("{}")
    (tmp_path / "res.describe.errors.jsonl").write_text("")
    names = [p.name for p in journal_paths(out)]
    assert names == [f"res.describe.rank{r}.jsonl" for r in (0, 1, 10)]
    assert isinstance(scan_done(journal_paths(out), "x"), np.ndarray)


def test_clip_rows_of_one_file_have_their_own_keys():
    assert row_key({"path": "a.mp4", "video_start": 4.0, "video_end": 12.5}, "path", None) == (
        "a.mp4#t=4,12.5"
    )
    assert row_key({"path": "a.mp4", "video_start": 0, "video_end": 1 / 3}, "path", None) == (
        "a.mp4#t=0,0.333"
    )
    assert row_key({"path": "a.mp4", "video_start": 4}, "path", None) == "a.mp4#t=4"
    assert row_key({"path": "a.mp4", "video_end": 2.25}, "path", None) == "a.mp4#t=,2.25"
    # Rows without bounds keep their keys, so journals written before resume.
    assert row_key({"path": "a.mp4", "video_start": None}, "path", None) == "a.mp4"
    # An id_field names the unit of work itself.
    assert row_key({"path": "a.mp4", "id": "x", "video_start": 1}, "path", "id") == "x"


def test_row_reader_reads_the_right_rows_from_several_threads(tmp_path):
    """The prefetch thread and the decode feed read rows of one source at once."""
    import random
    import sys
    import threading

    rows = [{"path": f"v{i}.mp4", "pad": "x" * (i * 997 % 150000)} for i in range(300)]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    reader = RowReader(InputIndex.build(path, "path", None))
    wrong = []

    def read_many(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(400):
            i = rng.randrange(len(rows))
            lineno, line = reader.read(i)
            if lineno != i + 1 or json.loads(line) != rows[i]:
                wrong.append(i)

    threads = [threading.Thread(target=read_many, args=(s,)) for s in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, between any two calls
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert wrong == []
