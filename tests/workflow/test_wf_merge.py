"""The per-task merge: shards concatenated once each; a duplicate key stops it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from video_pipeline.io.outputs import publish
from video_pipeline.workflow.merge import DuplicateKeyError, IncompletePart, merge_task


def _part(path: Path, keys: list[str], status: str = "ok") -> str:
    path.write_text(
        "".join(
            json.dumps({"__key": k, "status": status, "fingerprint": "fp", "task": "t"}) + "\n"
            for k in keys
        )
    )
    return str(path)


def _stats(path: Path, ok: int, failed: int, part: str, errors: str) -> str:
    """The part's stats, written as infer's finalize does: the manifest of its files."""
    fields = ("finished", "prompt_tokens", "generated_tokens", "rank_s", "job_s", "attempts")
    stats = {"ok": ok, "failed": failed, "errors_by_kind": {"decode_error": failed}}
    files = {}
    for name, final in (("results", Path(part)), ("errors", Path(errors))):
        tmp = final.with_name(final.name + ".tmp")
        final.rename(tmp)
        files[name] = (tmp, final)
    publish(files, path, {**stats, **dict.fromkeys(fields, 1.0)})
    return str(path)


def test_merge_concatenates_and_sums(tmp_path: Path) -> None:
    parts = [_part(tmp_path / "0.jsonl", ["a", "b"]), _part(tmp_path / "1.jsonl", ["c"])]
    errors = [_part(tmp_path / "0.e", [], "error"), _part(tmp_path / "1.e", ["d"], "error")]
    stats = [
        _stats(tmp_path / "0.s", 2, 0, parts[0], errors[0]),
        _stats(tmp_path / "1.s", 1, 1, parts[1], errors[1]),
    ]
    out = tmp_path / "out"
    got = merge_task("t", parts, errors, stats, f"{out}.jsonl", f"{out}.err", f"{out}.json")
    assert [json.loads(x)["__key"] for x in Path(f"{out}.jsonl").read_text().splitlines()] == [
        "a",
        "b",
        "c",
    ]
    assert Path(f"{out}.err").read_text().count("\n") == 1
    assert (got["ok"], got["failed"], got["errors_by_kind"]) == (3, 1, {"decode_error": 1})
    assert got["videos_per_s"] == pytest.approx(1.0)


def test_a_key_in_two_shards_stops_the_merge(tmp_path: Path) -> None:
    parts = [_part(tmp_path / "0.jsonl", ["a"]), _part(tmp_path / "1.jsonl", ["b"])]
    errors = [_part(tmp_path / "0.e", [], "error"), _part(tmp_path / "1.e", ["a"], "error")]
    stats = [
        _stats(tmp_path / "0.s", 1, 0, parts[0], errors[0]),
        _stats(tmp_path / "1.s", 1, 1, parts[1], errors[1]),
    ]
    with pytest.raises(DuplicateKeyError, match="1 key"):
        merge_task("t", parts, errors, stats, str(tmp_path / "o.jsonl"), "e", "s")
    assert not (tmp_path / "o.jsonl").exists()


def test_a_part_whose_finalize_was_interrupted_is_not_merged(tmp_path: Path) -> None:
    parts = [_part(tmp_path / "0.jsonl", ["a"])]
    errors = [_part(tmp_path / "0.e", ["b"], "error")]
    stats = [_stats(tmp_path / "0.s", 1, 1, parts[0], errors[0])]
    # A newer finalize renamed its results into place and was killed before the errors.
    _part(tmp_path / "0.jsonl", ["a", "b"])
    with pytest.raises(IncompletePart, match="not the one"):
        merge_task("t", parts, errors, stats, str(tmp_path / "o.jsonl"), "e", "s")
    assert not (tmp_path / "o.jsonl").exists()
