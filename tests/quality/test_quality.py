"""The quality checks on crafted answers: each flag, counts, thresholds, sources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from video_pipeline.config import ConfigError, load_config
from video_pipeline.config.schema import QualityConfig
from video_pipeline.fingerprint import fingerprint, payload
from video_pipeline.io.outputs import publish
from video_pipeline.io.record import Record
from video_pipeline.quality import RecordSource, flags_line, scan_task, task_source
from video_pipeline.quality.text import answer_text, repeated_share, words

WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india")


def ok(key: str, text: str, generated: int | None = None, finish: str = "stop", **extra) -> dict:
    return {
        "__key": key,
        "status": "ok",
        "fingerprint": "fp",
        "raw": {"path": extra.pop("path", key)},
        "text": text,
        "result": extra.pop("result", {"description": text}),
        "tokens": {"prompt": 100, "generated": generated or len(text.split()), "cached": 0},
        "finish_reason": finish,
        **extra,
    }


def distinct(i: int, n: int = 9) -> str:
    """An answer sharing no word 3-gram with distinct(j) for j != i."""
    return " ".join(f"{w}{i}" for w in WORDS[:n])


def write(path: Path, recs: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def scan(tmp_path: Path, recs: list[dict], **cfg: Any):
    src = RecordSource((str(write(tmp_path / "out.jsonl", recs)),))
    return scan_task("describe", src, QualityConfig(**cfg), "path")


def flagged(s, flag: str) -> list[str]:
    return [
        s.source.read(int(s.file_index[i]), int(s.offset[i])).key
        for i in range(len(s))
        if flag in s.flag_names(i)
    ]


def test_empty_and_truncated(tmp_path: Path) -> None:
    recs = [ok(f"v{i}", distinct(i)) for i in range(4)]
    recs.append(ok("blank", "   ", generated=1, result={"summary": " ", "objects": []}))
    recs.append(ok("cut", distinct(9), finish="length"))
    recs.append(
        {
            "__key": "err",
            "status": "error",
            "fingerprint": "fp",
            "raw": {},
            "text": "",
            "result": None,
            "error": {"kind": "parse_error", "message": "empty answer"},
            "finish_reason": "length",
        }
    )
    s = scan(tmp_path, recs)
    assert flagged(s, "empty") == ["blank", "err"]
    assert flagged(s, "truncated") == ["cut", "err"]  # errors with model text are checked too
    q = s.quality(QualityConfig())
    assert q["flags"]["empty"] == 2 and q["flags"]["truncated"] == 2
    assert q["records"] == 7 and q["ok"] == 6 and q["errors_by_kind"] == {"parse_error": 1}
    assert q["finish_reasons"] == {"stop": 5, "length": 2}


def test_repetition_share_and_threshold(tmp_path: Path) -> None:
    loop = "a red car drives " * 6
    assert repeated_share(words(loop), 4) > 0.7
    assert repeated_share(words(distinct(1)), 4) == 0.0
    assert repeated_share(["a", "b", "a"], 4) == 0.0  # too short to judge
    recs = [ok("loop", loop), *[ok(f"v{i}", distinct(i)) for i in range(3)]]
    assert flagged(scan(tmp_path, recs), "repetition") == ["loop"]
    assert flagged(scan(tmp_path, recs, repetition_threshold=0.95), "repetition") == []


def test_copies_across_videos_but_not_across_clips_of_one(tmp_path: Path) -> None:
    same = "A person walks across a sunny park with a small brown dog on a leash."
    near2 = "A person walks across a sunny park with a small brown dog on a red leash."
    recs = [
        ok("a.mp4", same),
        ok("b.mp4", same.upper()),  # the same words: an exact copy
        ok("c.mp4#t=0,5", distinct(1), path="c.mp4"),
        ok("c.mp4#t=5,10", distinct(1), path="c.mp4"),  # clips of one video may agree
        ok("d.mp4", near2),
        *[ok(f"v{i}", distinct(i + 10)) for i in range(6)],
    ]
    s = scan(tmp_path, recs, near_duplicate_threshold=0.5)  # d: Jaccard 0.8
    assert flagged(s, "near_duplicate") == ["a.mp4", "b.mp4", "d.mp4"]
    q = s.quality(QualityConfig())
    assert q["near_duplicates"]["exact_copies"] == 2 and q["near_duplicates"]["near_copies"] == 1
    strict = scan(tmp_path, recs, near_duplicate_threshold=1.0)
    assert flagged(strict, "near_duplicate") == ["a.mp4", "b.mp4"]
    exact_only = scan(tmp_path, recs, near_duplicate_max_answers=0)
    assert flagged(exact_only, "near_duplicate") == ["a.mp4", "b.mp4"]
    assert exact_only.quality(QualityConfig())["near_duplicates"]["sampled"]


def test_length_outliers_by_modified_z_score(tmp_path: Path) -> None:
    recs = [ok(f"v{i}", distinct(i), generated=20 + i % 3) for i in range(20)]
    recs += [ok("long", distinct(50), generated=400), ok("short", distinct(51), generated=1)]
    s = scan(tmp_path, recs)
    assert flagged(s, "length_outlier") == ["long", "short"]
    q = s.quality(QualityConfig())
    assert q["lengths"]["median"] == 21 and q["lengths"]["unit"] == "generated tokens"
    assert flagged(scan(tmp_path, recs, length_outlier_z=500), "length_outlier") == []
    # all lengths equal but one: MAD is 0, the mean absolute deviation takes over
    same = [ok(f"s{i}", distinct(i), generated=8) for i in range(15)] + [
        ok("odd", "x", generated=2)
    ]
    assert flagged(scan(tmp_path, same), "length_outlier") == ["odd"]


def test_fill_rates_of_structured_fields(tmp_path: Path) -> None:
    recs = [
        ok("a", "", result={"summary": "a dog", "objects": ["dog"], "camera": ""}),
        ok("b", "", result={"summary": "a cat", "objects": [], "camera": "static"}),
        ok("c", "", result={"summary": "", "objects": ["cat", "sofa"], "camera": "pan"}),
        ok("d", "", result={"summary": "rain", "objects": ["car"], "camera": " "}),
    ]
    q = scan(tmp_path, recs).quality(QualityConfig())
    assert q["fill_rates"] == {"summary": 0.75, "objects": 0.75, "camera": 0.5}
    assert answer_text(Record.from_dict(recs[2])) == "\ncat\nsofa\npan"


def test_journals_one_record_per_key_result_over_error(tmp_path: Path) -> None:
    r0, r1 = tmp_path / "o.rank0.jsonl", tmp_path / "o.rank1.jsonl"
    err = {
        "__key": "a",
        "status": "error",
        "fingerprint": "fp",
        "raw": {},
        "text": None,
        "result": None,
        "error": {"kind": "engine_error", "message": "x"},
    }
    write(r0, [err, ok("b", distinct(2)), {**ok("c", distinct(3)), "fingerprint": "old"}])
    write(r1, [ok("a", distinct(1)), ok("b", distinct(2))])
    src = task_source(tmp_path / "o.jsonl", "fp")
    assert not src.merged
    keys = sorted((r.key, r.status) for _, _, r in src)
    assert keys == [("a", "ok"), ("b", "ok")]
    write(tmp_path / "o.jsonl", [ok("z", distinct(9))])
    # a merged output without its manifest is not trusted (a merge killed half way)
    assert not task_source(tmp_path / "o.jsonl", "fp").merged
    tmp = tmp_path / "o.jsonl.tmp"
    (tmp_path / "o.jsonl").rename(tmp)
    write(tmp_path / "o.errors.jsonl.tmp", [])
    files = {"results": (tmp, tmp_path / "o.jsonl")}
    files["errors"] = (tmp_path / "o.errors.jsonl.tmp", tmp_path / "o.errors.jsonl")
    publish(files, tmp_path / "o.merge.json", {})
    assert task_source(tmp_path / "o.jsonl", "fp").merged  # a complete merged set wins
    assert not task_source(tmp_path / "o.jsonl", "fp", prefer="journals").merged


def test_flags_line_names_every_flag() -> None:
    line = flags_line({"flags": {"truncated": 3}})
    assert line == "flags: empty=0 truncated=3 repetition=0 near_duplicate=0 length_outlier=0"


def test_quality_section_is_validated_and_not_in_the_fingerprint(tmp_path: Path) -> None:
    base = {"data": {"input_jsonl": "i.jsonl", "output_jsonl": "o.jsonl"}, "vllm": {"model": "m"}}
    cfg = load_config(data=base)
    tuned = load_config(data={**base, "quality": {"repetition_threshold": 0.3}})
    assert tuned.quality.repetition_threshold == 0.3
    assert "quality" not in payload(tuned) and fingerprint(tuned) == fingerprint(cfg)
    with pytest.raises(ConfigError) as e:
        load_config(data={**base, "quality": {"repetition_threshold": 2, "length_outlier_z": 0}})
    assert "quality.repetition_threshold must be in (0, 1], got 2" in str(e.value)
    assert "quality.length_outlier_z must be > 0, got 0" in str(e.value)
    with pytest.raises(ConfigError, match=r"quality\.thresh is not a known key"):
        load_config(data={**base, "quality": {"thresh": 1}})
