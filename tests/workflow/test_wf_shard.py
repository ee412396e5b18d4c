"""Sharding: every row once, keys from the original input, stable when rows are added."""

from __future__ import annotations

import json
from pathlib import Path

from video_pipeline.data.samples import SampleSource
from video_pipeline.errors import SampleError
from video_pipeline.io.jsonl import InputIndex
from video_pipeline.workflow.shard import shard_of, write_shards


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write_input(path: Path, n: int) -> Path:
    lines = [json.dumps({"path": f"/videos/v{i}.mp4", "meta": {"i": i}}) for i in range(n)]
    lines.insert(3, "{not json")
    lines.insert(5, json.dumps({"meta": "no path"}))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_each_row_once_with_its_original_key(tmp_path: Path) -> None:
    src = _write_input(tmp_path / "in.jsonl", 20)
    outs = [tmp_path / f"s{i}.jsonl" for i in range(3)]
    report = write_shards(src, outs, "path", None)
    rows = [r for o in outs for r in _rows(o)]
    keys = sorted(r["__key"] for r in rows)
    assert keys == sorted([f"/videos/v{i}.mp4" for i in range(20)] + ["line:4", "line:6"])
    assert report.rows == [len(_rows(o)) for o in outs] and report.bad_rows == 2
    for i, o in enumerate(outs):
        assert all(shard_of(r["__key"], 3) == i for r in _rows(o))
    bad = {r["__key"]: r for r in rows if "__error" in r}
    assert bad["line:4"]["__error_kind"] == "bad_row"
    assert bad["line:6"]["__error_kind"] == "missing_video"
    assert not list(tmp_path.glob("*.tmp*"))


def test_shard_rows_become_samples_and_errors(tmp_path: Path) -> None:
    src = _write_input(tmp_path / "in.jsonl", 6)
    out = tmp_path / "s0.jsonl"
    write_shards(src, [out], "path", None)
    source = SampleSource(InputIndex.build(out, "path", None), range(8), "path", None)
    got, errors = [], {}
    for i in range(len(source)):
        try:
            got.append(source[i]["__key"])
        except SampleError as e:
            errors[e.key] = e.kind
    assert got == [f"/videos/v{i}.mp4" for i in range(6)]
    assert errors == {"line:4": "bad_row", "line:6": "missing_video"}


def test_keys_keep_their_shard_when_rows_are_added(tmp_path: Path) -> None:
    outs = [tmp_path / f"a{i}.jsonl" for i in range(4)]
    write_shards(_write_input(tmp_path / "in.jsonl", 30), outs, "path", None)
    before = {r["__key"]: i for i, o in enumerate(outs) for r in _rows(o) if "__error" not in r}
    more = [tmp_path / f"b{i}.jsonl" for i in range(4)]
    write_shards(_write_input(tmp_path / "in2.jsonl", 60), more, "path", None)
    after = {r["__key"]: i for i, o in enumerate(more) for r in _rows(o) if "__error" not in r}
    assert len(after) == 60
    assert all(after[k] == i for k, i in before.items())


def test_id_field_keys(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join(json.dumps({"id": f"k{i}", "path": "same.mp4"}) + "\n" for i in range(5))
    )
    out = tmp_path / "s.jsonl"
    write_shards(src, [out], "path", "id")
    assert [r["__key"] for r in _rows(out)] == [f"k{i}" for i in range(5)]
