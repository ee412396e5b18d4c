"""The per-video roll-up of a task's clip records."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.clips.conftest import assert_covering, assert_unique
from video_pipeline.clips import ExpandOptions, expand_file, write_rollup
from video_pipeline.clips.spans import Clip
from video_pipeline.config.schema import ClipsConfig
from video_pipeline.io.jsonl import dumps_line


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def record(row: dict[str, Any], status: str, kind: str = "engine_error") -> dict[str, Any]:
    """A journal record of a clip row, as the runner writes one."""
    ok = status == "ok"
    return {
        "__key": row["__key"],
        "status": status,
        "fingerprint": "fp",
        "task": "describe",
        "raw": row,
        "rank": 0,
        "time": 0.0,
        "text": f"text of {row['__key']}",
        "result": {"description": f"about {row['__key']}"} if ok else None,
        "error": None if ok else {"kind": kind, "message": "failed", "transient": False},
    }


@pytest.fixture(scope="module")
def run(clip_videos, tmp_path_factory) -> dict[str, Any]:
    """Clip rows of five inputs, and the merged records of a half-finished run."""
    d = tmp_path_factory.mktemp("rollup")
    long, short = str(clip_videos["long"]), str(clip_videos["short"])
    lines = [
        json.dumps({"path": long, "meta": {"source": "cam1"}}),
        json.dumps({"path": short}),
        json.dumps({"path": long, "video_start": 10, "video_end": 100.5}),
        json.dumps({"path": str(d / "missing.mp4")}),
        "not json",
    ]
    (d / "input.jsonl").write_text("".join(line + "\n" for line in lines))
    clips = d / "clips.jsonl"
    options = ExpandOptions(ClipsConfig(mode="fixed", seconds=30, min_seconds=2))
    expand_file(d / "input.jsonl", clips, options)
    rows = read(clips)
    records = []
    for row in rows:
        if row.get("video_key") == short:
            continue  # not done yet: pending
        if "__error" in row:
            records.append(record(row, "error", row["__error_kind"]))
        elif row["clip"]["index"] == 3 and row["video_key"] == long:
            records.append(record(row, "error"))
        else:
            records.append(record(row, "ok"))
    retried = next(r for r in rows if r["__key"] == f"{long}#t=150,180")
    records.append(record(retried, "error"))  # an earlier failure, then the result above
    orphan = {"__key": "other.mp4#t=0,30", "video_key": "other.mp4"}
    orphan["clip"] = {"index": 0, "start": 0.0, "end": 30.0}
    records.append(record(orphan, "ok"))
    random.Random(0).shuffle(records)  # records of one video far apart
    results = write(d / "out.jsonl", [r for r in records if r["status"] == "ok"])
    errors = write(d / "out.errors.jsonl", [r for r in records if r["status"] == "error"])
    out = d / "out.videos.jsonl"
    report = write_rollup([results, errors], out, clip_rows=[clips])
    lines_out = read(out)
    return {
        "rows": rows,
        "lines": lines_out,
        "by_key": {v["__key"]: v for v in lines_out},
        "report": report,
        "long": long,
        "short": short,
        "d": d,
        "results": results,
        "errors": errors,
    }


def test_one_line_per_input_row_in_input_order(run):
    long, short, d = run["long"], run["short"], run["d"]
    assert [v["__key"] for v in run["lines"]] == [
        long,
        short,
        f"{long}#t=10,100.5",
        str(d / "missing.mp4"),
        "line:5",
    ]


def test_clips_come_in_time_order_with_their_results_and_errors(run):
    video = run["by_key"][run["long"]]
    clips = [Clip(**c["clip"]) for c in video["clips"]]
    assert_covering(clips, 0.0, 300.0)
    assert_unique([c["__key"] for c in video["clips"]])
    assert (video["status"], video["ok"], video["failed"], video["pending"]) == ("partial", 9, 1, 0)
    assert (video["duration"], video["start"], video["end"]) == (300.0, 0.0, 300.0)
    failed = [c for c in video["clips"] if c["status"] == "error"]
    assert [c["clip"]["index"] for c in failed] == [3]
    assert failed[0]["error"]["kind"] == "engine_error"
    first = video["clips"][0]
    assert first["result"] == {"description": f"about {run['long']}#t=0,30"}
    assert "raw" not in first and "video_key" not in first


def test_a_result_wins_over_an_earlier_error(run):
    video = run["by_key"][run["long"]]
    retried = next(c for c in video["clips"] if c["__key"] == f"{run['long']}#t=150,180")
    assert retried["status"] == "ok"


def test_the_row_is_kept_without_what_expansion_added(run):
    assert run["by_key"][run["long"]]["raw"] == {"path": run["long"], "meta": {"source": "cam1"}}


def test_clips_without_a_record_are_pending(run):
    video = run["by_key"][run["short"]]
    assert (video["status"], video["pending"], video["ok"]) == ("pending", 1, 0)
    assert video["clips"][0]["status"] == "pending"
    assert video["clips"][0]["clip"] == {"index": 0, "start": 0.0, "end": 5.0}


def test_a_row_with_bounds_rolls_up_under_its_own_key(run):
    video = run["by_key"][f"{run['long']}#t=10,100.5"]
    assert (video["status"], video["start"], video["end"]) == ("ok", 10.0, 100.5)
    assert [c["__key"] for c in video["clips"]] == [
        f"{run['long']}#t=10,40",
        f"{run['long']}#t=40,70",
        f"{run['long']}#t=70,100.5",
    ]


def test_a_video_that_failed_whole_carries_its_error(run):
    video = run["by_key"][str(run["d"] / "missing.mp4")]
    assert (video["status"], video["clips"], video["duration"]) == ("error", [], None)
    assert video["error"]["kind"] == "video_not_found"
    assert run["by_key"]["line:5"]["error"]["kind"] == "bad_row"


def test_the_report_counts_clips_videos_and_orphans(run):
    r = run["report"]
    n_clips = sum(1 for row in run["rows"] if "clip" in row)
    assert (r.videos, r.clips, r.ok, r.failed, r.pending) == (5, n_clips, n_clips - 2, 1, 1)
    assert (r.video_errors, r.complete, r.orphans) == (2, 4, 1)


def test_without_clip_rows_the_records_stand_for_them(run, tmp_path: Path):
    out = tmp_path / "videos.jsonl"
    write_rollup([run["results"], run["errors"]], out)
    by_key = {v["__key"]: v for v in read(out)}
    assert run["short"] not in by_key  # no record, so nothing says it exists
    assert by_key[run["long"]]["clips"] == run["by_key"][run["long"]]["clips"]
    assert by_key["other.mp4"]["ok"] == 1  # the stray record is a video of its own here


def test_many_videos_with_shuffled_records(tmp_path: Path):
    rng = random.Random(3)
    rows, records = [], []
    for v in range(2000):
        video = f"/data/v{v:05d}.mp4"
        n = rng.randint(1, 8)
        for i in range(n):
            row = {
                "__key": f"{video}#t={i * 30},{i * 30 + 30}",
                "path": video,
                "video_key": video,
                "clip": {"index": i, "start": i * 30.0, "end": i * 30.0 + 30.0},
                "video_duration": n * 30.0,
            }
            rows.append(row)
            records.append(record(row, "ok"))
    rng.shuffle(records)
    clips = write(tmp_path / "clips.jsonl", rows)
    results = write(tmp_path / "out.jsonl", records)
    out = tmp_path / "videos.jsonl"
    report = write_rollup([results], out, clip_rows=[clips])
    lines = read(out)
    assert [v["__key"] for v in lines] == [f"/data/v{v:05d}.mp4" for v in range(2000)]
    for v in lines:
        got = [Clip(**c["clip"]) for c in v["clips"]]
        assert_covering(got, 0.0, v["duration"])
        assert v["status"] == "ok"
    assert (report.clips, report.ok, report.pending) == (len(rows), len(rows), 0)


def test_a_file_name_that_is_not_utf8_expands_and_rolls_up(clip_videos, tmp_path: Path):
    """A lone surrogate (a file name that is not UTF-8) in keys, rows and records."""
    odd = tmp_path / "caf\udce9.mp4"  # the Latin-1 bytes of "café" as a file name
    shutil.copy(clip_videos["short"], odd)
    missing = str(tmp_path / "gone_\udcff.mp4")
    (tmp_path / "input.jsonl").write_bytes(
        dumps_line({"path": str(odd)}) + dumps_line({"path": missing})
    )
    clips = tmp_path / "clips.jsonl"
    options = ExpandOptions(ClipsConfig(mode="fixed", seconds=30, min_seconds=2))
    expand_file(tmp_path / "input.jsonl", clips, options, tmp_path / "probes.jsonl")
    rows = read(clips)
    assert {r["video_key"] for r in rows} == {str(odd), missing}
    records = [
        record(r, "error", r["__error_kind"]) if "__error" in r else record(r, "ok") for r in rows
    ]
    (tmp_path / "out.jsonl").write_bytes(b"".join(map(dumps_line, records)))
    out = tmp_path / "videos.jsonl"
    write_rollup([tmp_path / "out.jsonl"], out, clip_rows=[clips])
    by_key = {v["__key"]: v for v in read(out)}
    assert by_key[str(odd)]["status"] == "ok"
    assert by_key[str(odd)]["ok"] == len(rows) - 1
    assert by_key[str(odd)]["clips"][0]["__key"].startswith(str(odd))
    assert by_key[missing]["error"]["kind"] == "video_not_found"
