"""The report of crafted records: hostile answers and messages, and a large run's bounds.

No engine: records are written by hand (videos from the session fixture), so answers
can hold what the tiny model never writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import demo_config
from tests.report.browser import broken_images, chromium, open_report, shown_keys
from video_pipeline.config import load_config
from video_pipeline.fixtures.videos import make_video
from video_pipeline.quality import RecordSource
from video_pipeline.report.build import CHUNK, TaskInput, build_report

pytestmark = pytest.mark.e2e

SCRIPT = "</script><script>window.__pwned=1</script>"
IMG = "<img src=x onerror=window.__pwned=2>"


def rec(key: str, video: str | None, i: int, status: str = "ok", **extra) -> dict:
    base = {
        "__key": key,
        "status": status,
        "fingerprint": "fp",
        "task": "describe",
        "raw": {"path": video} if video else None,
        "text": f"answer {i}",
        "result": {"description": f"answer number {i} about video {key}"}
        if status == "ok"
        else None,
        "error": None,
        "tokens": {"prompt": 100, "generated": 10 + i % 5, "cached": 0},
        "finish_reason": "stop",
    }
    return {**base, **extra}


def config(tmp_path: Path, tiny_model: Path, inp: Path) -> object:
    raw = demo_config(tiny_model, inp, tmp_path / "out.jsonl")
    return load_config(data=raw, check_task=False)


def test_hostile_answers_and_messages_stay_text(
    tmp_path: Path, tiny_model: Path, video_dir: Path
) -> None:
    video = str(sorted(video_dir.glob("*.mp4"))[0])
    tall = str(make_video(tmp_path / "tall.mp4", width=48, height=96))
    recs = [
        rec("a.mp4", video, 0, result={"description": SCRIPT}, text=SCRIPT),
        rec("tall.mp4", tall, 3),
        rec(IMG, video, 1, result={"summary": IMG, "objects": [SCRIPT, "cat"]}),
        rec(
            "b.mp4",
            video,
            2,
            status="error",
            text=f"{SCRIPT} raw",
            error={"kind": f"kind{IMG}", "message": f"bad {IMG} {SCRIPT}", "transient": False},
        ),
    ]
    out = tmp_path / "out.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in recs))
    cfg = config(tmp_path, tiny_model, tmp_path / "in.jsonl")
    build_report([TaskInput(f"t{IMG}", cfg, RecordSource((str(out),)))], tmp_path / "r", title=IMG)
    for js in (tmp_path / "r" / "data").glob("*.js"):
        assert "</" not in js.read_text()  # cannot close a script element in any context
    with chromium() as ctx:
        page = open_report(ctx, tmp_path / "r" / "index.html")
        text = page.inner_text("body")
        for s in (SCRIPT, IMG, f"bad {IMG} {SCRIPT}", f"kind{IMG}"):
            assert s in text
        assert sorted(shown_keys(page)) == sorted(r["__key"] for r in recs)
        assert page.evaluate("window.__pwned === undefined")
        assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
        assert page.title() == IMG
        assert page.problems == [] and ctx.outside == [] and broken_images(page) == []
        # a vertical video's frames keep its aspect: taller than wide, as files and shown
        sizes = page.evaluate(
            "[...document.querySelectorAll('[data-key=\"tall.mp4\"] .strip img')].map("
            "i => [i.naturalWidth, i.naturalHeight, i.width, i.height])"
        )
        assert sizes and all(nw < nh and w < h for nw, nh, w, h in sizes), sizes
        wide = page.evaluate(
            "[...document.querySelectorAll('[data-key=\"a.mp4\"] .strip img')].map("
            "i => [i.width, i.height])"
        )
        # one row height for every strip: a tall frame is narrower, not taller
        assert wide and {h for _, h in wide} == {h for *_, h in sizes}
        assert all(w >= h for w, h in wide)


def test_a_large_run_shows_a_bounded_sample_with_exact_counts(
    tmp_path: Path, tiny_model: Path
) -> None:
    n, n_err = 6000, 700
    out = tmp_path / "out.jsonl"
    with out.open("w") as f:
        for i in range(n):
            if i < n_err:
                kind = "decode_error" if i % 2 else "video_not_found"
                r = rec(
                    f"e{i}",
                    None,
                    i,
                    status="error",
                    text=None,
                    error={"kind": kind, "message": "x", "transient": False},
                )
            else:
                r = rec(f"v{i}", None, i, finish_reason="length" if i % 10 == 0 else "stop")
            f.write(json.dumps(r) + "\n")
    cfg = config(tmp_path, tiny_model, tmp_path / "in.jsonl")
    summary = build_report(
        [TaskInput("describe", cfg, RecordSource((str(out),)))],
        tmp_path / "r",
        max_errors=100,
        per_category=50,
    )
    q = summary["tasks"][0]["quality"]
    assert (q["records"], q["ok"], q["failed"]) == (n, n - n_err, n_err)  # exact
    assert q["errors_by_kind"] == {"video_not_found": 350, "decode_error": 350}
    assert q["flags"]["truncated"] == sum(1 for i in range(n_err, n) if i % 10 == 0)
    shown = summary["rows"]
    assert 100 + 50 < shown <= 100 + 50 * 5  # the cap, plus a sample per category
    assert len(list((tmp_path / "r" / "data").glob("chunk-*.js"))) == -(-shown // CHUNK)
    with chromium() as ctx:
        page = open_report(ctx, tmp_path / "r" / "index.html")
        # a fast page whatever the run's size: opening it loads the summary, the index
        # and one data page of records, and shows one page of cards
        loaded = page.evaluate("[...document.scripts].map(s => s.src.split('/').pop())")
        data = [n for n in loaded if n != "app.js"]
        assert sorted(data) == ["chunk-00000.js", "index.js", "summary.js"], loaded
        opened = sum((tmp_path / "r" / "data" / n).stat().st_size for n in data)
        assert opened < 50 * shown + 100_000  # tens of bytes per shown record, not per record
        assert page.locator(".card").count() == 25
        count = page.inner_text("#count")
        assert f"{shown:,} of {shown:,}" in count
        page.select_option("#f-flag", label="truncated")
        page.wait_for_selector("#rows[data-ready='1']")
        assert "50 of" in page.inner_text("#count")
        assert page.problems == [] and ctx.outside == []
