"""verify: counts of a partial run, and each kind of violation it must catch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import demo_config, run_cli, write_config
from video_pipeline.config import load_config
from video_pipeline.fingerprint import fingerprint
from video_pipeline.io.journal import journal_path
from video_pipeline.io.outputs import publish
from video_pipeline.io.record import RecordError
from video_pipeline.merge import manifest_path, merge_outputs
from video_pipeline.runner.records import error_record
from video_pipeline.verify import verify_run


@pytest.fixture
def run(tmp_path, tiny_model):
    inp = tmp_path / "in.jsonl"
    rows = [{"path": f"v{i}.mp4"} for i in range(5)] + [{"path": "v0.mp4"}]
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "o.jsonl"
    raw = demo_config(tiny_model, inp, out)
    cfg = load_config(data=raw)
    return cfg, write_config(tmp_path / "c.yaml", raw), out


def _rec(cfg, key: str, status: str = "ok", fp: str | None = None) -> str:
    err = RecordError("decode_error", "x", False)
    rec = error_record(key, fp or fingerprint(cfg), "describe", {"path": key}, 0, err)
    if status == "ok":
        rec.status, rec.error, rec.result, rec.text = "ok", None, {"description": "d"}, "d"
    return json.dumps(rec.to_dict()) + "\n"


def _journal(out: Path, rank: int, text: str) -> None:
    journal_path(out, rank).write_text(text)


def test_partial_run_counts_and_a_torn_tail_is_no_violation(run):
    cfg, path, out = run
    _journal(out, 0, _rec(cfg, "v0.mp4") + _rec(cfg, "v1.mp4", "error") + '{"__key": "v2')
    _journal(out, 1, _rec(cfg, "v3.mp4", "error") + _rec(cfg, "v3.mp4", "error"))
    r = verify_run(cfg)
    assert (r.unique_keys, r.input_duplicates) == (5, 1)
    assert (r.done, r.failed, r.pending, r.repeated_errors) == (1, 2, 2, 1)
    assert len(r.torn_tails) == 1 and not r.violations
    assert verify_run(cfg, require_complete=True).violations
    proc = run_cli("video_pipeline.cli.verify", "--config", str(path), "--json")
    assert json.loads(proc.stdout)["pending"] == 2
    strict = run_cli("video_pipeline.cli.verify", "--config", str(path), "--complete", check=False)
    assert strict.returncode == 1 and "2 input key(s) have no record yet" in strict.stdout


@pytest.mark.parametrize(
    "journal, words",
    [
        (lambda c: _rec(c, "v0.mp4") + _rec(c, "v0.mp4"), "more than one result"),
        (lambda c: _rec(c, "v0.mp4") + _rec(c, "elsewhere.mp4"), "not in the input"),
        (lambda c: _rec(c, "v0.mp4") + "garbage\n" + _rec(c, "v1.mp4"), "not a journal record"),
        (lambda c: _rec(c, "v0.mp4") + _rec(c, "v1.mp4", fp="0" * 16), "another configuration"),
    ],
)
def test_each_violation_is_caught(run, journal, words):
    cfg, path, out = run
    _journal(out, 0, journal(cfg))
    r = verify_run(cfg)
    assert any(words in v for v in r.violations), r.violations
    proc = run_cli("video_pipeline.cli.verify", "--config", str(path), check=False)
    assert proc.returncode == 1 and "VIOLATION" in proc.stdout


def test_merged_output_with_a_key_twice_is_caught(run):
    cfg, _, out = run
    _journal(out, 0, _rec(cfg, "v0.mp4"))
    assert not verify_run(cfg).violations
    # A merged set whose manifest vouches for it, but which holds a key twice.
    tmp = out.with_name("o.jsonl.tmp")
    tmp.write_text(_rec(cfg, "v0.mp4") * 2)
    empty = out.with_name("o.errors.jsonl.tmp")
    empty.write_text("")
    publish(
        {"results": (tmp, out), "errors": (empty, out.with_name("o.errors.jsonl"))},
        manifest_path(out),
        {},
    )
    assert any("twice" in v for v in verify_run(cfg).violations)


def test_a_merge_interrupted_between_renames_is_not_trusted(run):
    cfg, _, out = run
    _journal(out, 0, _rec(cfg, "v0.mp4") + _rec(cfg, "v1.mp4", "error"))
    merge_outputs(cfg)
    assert not verify_run(cfg).violations
    # A newer merge renamed its results into place and was killed before the rest.
    out.write_text(_rec(cfg, "v0.mp4") + _rec(cfg, "v1.mp4"))
    bad = verify_run(cfg).violations
    assert any("not a complete merged set" in v for v in bad), bad
    merge_outputs(cfg)  # the next merge makes the set whole again
    assert not verify_run(cfg).violations
