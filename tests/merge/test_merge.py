"""merge_outputs: each input key once, in input order; results win over errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import demo_config, read_jsonl
from video_pipeline.config import load_config
from video_pipeline.fingerprint import fingerprint
from video_pipeline.io.journal import JournalWriter, journal_path
from video_pipeline.io.record import Record, RecordError
from video_pipeline.merge import merge_outputs


def _rec(key: str, fp: str, status: str = "ok") -> Record:
    err = None if status == "ok" else RecordError("decode_error", "x", False)
    return Record(key, status, fp, "describe", {}, error=err)


def test_merge_order_dedup_and_stale_temps(tmp_path: Path):
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(f'{{"path": "{k}.mp4"}}\n' for k in "abcab") + "oops\n")
    out = tmp_path / "o.jsonl"
    cfg = load_config(data=demo_config(tmp_path / "model", inp, out))
    fp = fingerprint(cfg)
    with JournalWriter(journal_path(out, 0)) as w:
        w.write(_rec("b.mp4", fp, "error"))
        w.write(_rec("a.mp4", fp))
        w.write(_rec("c.mp4", "other-config"))  # another fingerprint: ignored
    with JournalWriter(journal_path(out, 1)) as w:
        w.write(_rec("b.mp4", fp))  # a retried error: the result wins
        w.write(_rec("line:6", fp, "error"))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    stale = tmp_path / f"o.jsonl.tmp{dead}"
    stale.write_text("half a merge")
    live = tmp_path / f"o.jsonl.tmp{__import__('os').getppid()}"
    live.write_text("someone else's")

    report = merge_outputs(cfg)
    assert [r["__key"] for r in read_jsonl(out)] == ["a.mp4", "b.mp4"]
    assert [r["__key"] for r in read_jsonl(tmp_path / "o.errors.jsonl")] == ["line:6"]
    assert (report.ok, report.failed, report.pending) == (2, 1, 1)  # c has no record
    assert report.input_duplicates == 2 and not report.complete
    assert not stale.exists() and live.exists()
