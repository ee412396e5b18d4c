"""The report of a real run, in a real browser; export of the same run.

One `launch --merge` of two tasks (the tiny model, generated videos) serves every test:
a video whose file name is markup, a row whose passthrough field closes a script, a
clip of a longer video, a missing file and a line that is not JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.helpers import demo_config, imported_decoders, read_jsonl, run_cli, write_config
from tests.report.browser import all_keys, broken_images, chromium, open_report, select
from video_pipeline.fixtures.videos import make_video

pytestmark = pytest.mark.e2e

EVIL_NAME = "<img src=x onerror=alert(1)>.mp4"
EVIL_NOTE = "</script><script>window.__pwned=1</script>"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, video_dir: Path) -> dict:
    d = tmp_path_factory.mktemp("report")
    videos = sorted(video_dir.glob("*.mp4"))[:3]
    evil = make_video(d / EVIL_NAME, seconds=2.0, fps=8, seed=11)
    long = make_video(d / "long.mp4", seconds=4.0, fps=8, seed=12)
    rows = [{"path": str(v), "meta": {"i": i}} for i, v in enumerate(videos)]
    rows += [
        {"path": str(evil), "meta": {"note": EVIL_NOTE}},
        {"path": str(long), "video_start": 1.0, "video_end": 3.0},
        {"path": str(d / "missing.mp4")},
    ]
    inp = d / "input.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n")
    raw = demo_config(tiny_model, inp, d / "out" / "res.{task}.jsonl")
    raw["run"].pop("task")
    raw["sampling"]["seed"] = None  # answers that differ between videos
    raw["tasks"] = [
        "describe",
        {
            "name": "caption",
            "task": "structured_caption",
            "sampling": {"max_tokens": 48},
            "task_params": {"fields": ["summary", "objects"]},
        },
    ]
    cfg = write_config(d / "run.yaml", raw)
    launch = run_cli("video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "1", "--merge")
    report = d / "report"
    run_cli("video_pipeline.cli.report", "--config", str(cfg), "--out", str(report))
    records = {
        t: read_jsonl(d / "out" / f"res.{t}.jsonl")
        + read_jsonl(d / "out" / f"res.{t}.errors.jsonl")
        for t in ("describe", "caption")
    }
    return {"dir": d, "cfg": cfg, "launch": launch, "report": report, "records": records}


@pytest.fixture(scope="module")
def browser() -> Any:
    with chromium() as ctx:
        yield ctx


def test_launch_summary_and_quality_json(run: dict) -> None:
    lines = [x for x in run["launch"].stderr.splitlines() if x.startswith("[")]
    for task, n in (("describe", 7), ("structured_caption", 7)):
        line = next(x for x in lines if x.startswith(f"[{task}]"))
        assert f"failed={n - 5}" in line or task == "structured_caption"
        assert "flags: empty=" in line and "near_duplicate=" in line
    q = json.loads((run["dir"] / "out" / "res.describe.quality.json").read_text())
    recs = run["records"]["describe"]
    assert q["records"] == len(recs) == 7
    assert q["ok"] == sum(r["status"] == "ok" for r in recs)
    truncated = sum(r.get("finish_reason") == "length" for r in recs)
    assert q["flags"]["truncated"] == truncated and q["errors_by_kind"]["bad_row"] == 1
    report_q = json.loads((run["report"] / "quality" / "caption.json").read_text())
    assert report_q["records"] == len(run["records"]["caption"])


def test_page_renders_every_key_with_frames(run: dict, browser: Any) -> None:
    page = open_report(browser, run["report"] / "index.html")
    expected = sorted(r["__key"] for t in ("describe", "caption") for r in run["records"][t])
    assert sorted(all_keys(page)) == expected
    select(page, "#f-status", "any status")  # back to the first page
    assert broken_images(page) == []
    n_images = page.evaluate("document.images.length")
    assert n_images >= 7 + 5 * 4  # the charts, and strips of the decoded videos
    assert page.locator(".card.ok .strip img").count() > 0
    assert browser.outside == [] and page.problems == []
    # thumbnails at the sampled timestamps within the clip's bounds, bounds shown
    clip = page.locator(".card", has_text="long.mp4#t=1,3").first
    assert "clip" in clip.locator(".head").inner_text() and "1-3 s" in clip.inner_text()
    stamps = [float(s.rstrip(" s")) for s in clip.locator("figcaption").all_inner_texts()]
    assert stamps and all(1.0 <= t <= 3.0 for t in stamps)
    missing = page.locator(".card", has_text="missing.mp4").first
    assert "video_not_found" in missing.inner_text() and "no frames" in missing.inner_text()


def test_filters_and_search_change_what_is_shown(run: dict, browser: Any) -> None:
    page = open_report(browser, run["report"] / "index.html")
    total = page.locator(".card").count()
    select(page, "#f-status", "error")
    errors = [r for t in ("describe", "caption") for r in run["records"][t] if r["status"] != "ok"]
    assert page.locator(".card").count() == len(errors) < total
    assert page.locator(".card.ok").count() == 0
    select(page, "#f-kind", "bad_row")
    assert page.locator(".card").count() == 2  # one per task
    select(page, "#f-status", "any status")
    select(page, "#f-kind", "any error kind")
    select(page, "#f-task", "caption")
    badges = page.eval_on_selector_all(
        ".card .head .badge:nth-child(2)", "b => b.map(x => x.textContent)"
    )
    assert set(badges) == {"caption"} and len(badges) == len(run["records"]["caption"])
    select(page, "#f-task", "all tasks")
    select(page, "#f-flag", "truncated")
    flagged = page.locator(".card").count()
    truncated = sum(r.get("finish_reason") == "length" for t in run["records"].values() for r in t)
    assert (
        flagged == truncated
        and page.locator(".card .badge.flag", has_text="truncated").count() == flagged
    )
    select(page, "#f-flag", "any flag")
    page.fill("#f-search", "video_001")
    page.wait_for_selector("#rows[data-ready='1']")
    keys = page.eval_on_selector_all(".card .key", "k => k.map(x => x.textContent)")
    assert keys and all("video_001" in k for k in keys) and len(keys) == 2


def test_markup_in_keys_and_rows_is_shown_as_text(run: dict, browser: Any) -> None:
    page = open_report(browser, run["report"] / "index.html")
    page.fill("#f-search", "onerror")
    page.wait_for_selector("#rows[data-ready='1']")
    card = page.locator(".card").first
    assert EVIL_NAME in card.locator(".key").inner_text()
    card.locator("details summary").click()
    assert EVIL_NOTE in card.locator("pre").inner_text()
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert page.evaluate("window.__pwned === undefined")
    assert page.problems == [] and browser.outside == []
    assert card.locator(".strip img").count() > 0 and broken_images(page) == []


def test_screenshot_is_not_blank(run: dict, browser: Any, tmp_path: Path) -> None:
    page = open_report(browser, run["report"] / "index.html")
    shot = run["dir"] / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape[0] > 1500
    colours = len(np.unique(img.reshape(-1, 3)[::7], axis=0))
    assert colours > 500 and img.std() > 20  # charts, frames and text, not a blank page


def test_thumbnails_are_written_once_and_reused(run: dict) -> None:
    from video_pipeline.cli.report import main

    thumbs = sorted((run["report"] / "thumbs").rglob("*.jpg"))
    assert thumbs
    before = {p: p.stat().st_mtime_ns for p in thumbs}
    assert main(["--config", str(run["cfg"]), "--out", str(run["report"])]) == 0
    assert {p: p.stat().st_mtime_ns for p in thumbs} == before
    assert sorted((run["report"] / "thumbs").rglob("*.jpg")) == thumbs


def test_export_of_the_run_loads_into_datasets(run: dict, tmp_path: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets

    out = tmp_path / "pq"
    run_cli(
        "video_pipeline.cli.export",
        "--config",
        str(run["cfg"]),
        "--format",
        "parquet",
        "--out",
        str(out / "{task}.parquet"),
        "--errors",
        str(out / "{task}.errors.parquet"),
        "--rows-per-file",
        "2",
    )
    files = sorted(str(p) for p in out.glob("describe-*.parquet"))
    ds = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path))
    ok = [r for r in run["records"]["describe"] if r["status"] == "ok"]
    assert ds["key"] == [r["__key"] for r in ok]
    assert ds["description"] == [r["result"]["description"] for r in ok]
    clip = ds[[r["__key"] for r in ok].index(next(r["__key"] for r in ok if "#t=" in r["__key"]))]
    assert (clip["clip_start"], clip["clip_end"]) == (1.0, 3.0)
    assert "fingerprint" in ds.column_names and "path" in ds.column_names
    errs = sorted(str(p) for p in out.glob("describe.errors-*.parquet"))
    e = datasets.load_dataset("parquet", data_files=errs, split="train", cache_dir=str(tmp_path))
    failed = [r for r in run["records"]["describe"] if r["status"] != "ok"]
    assert e["key"] == [r["__key"] for r in failed]
    assert {"bad_row", "video_not_found"} <= set(e["error_kind"])


def test_commands_that_read_records_start_no_decoder(run: dict, tmp_path: Path) -> None:
    """export and verify need the fingerprint, never a video decoder (`vision.reader:
    auto` is taken from what the run recorded)."""
    cfg = str(run["cfg"])
    out = str(tmp_path / "{task}.parquet")
    export = ["--config", cfg, "--format", "parquet", "--out", out]
    assert imported_decoders("video_pipeline.cli.export", *export)[0] == []
    assert (tmp_path / "describe.parquet").exists()
    found, stdout = imported_decoders("video_pipeline.cli.verify", "--config", cfg, "--json")
    assert found == [] and all(r["violations"] == [] for r in json.loads(stdout))


def test_thumbnails_come_from_the_run_without_the_videos(
    run: dict, browser: Any, tmp_path: Path
) -> None:
    """The run kept each decoded sample's strip and merge carried them beside the
    results: a report built with the videos gone decodes nothing (no decoder is even
    imported) and still shows every decoded record's frames."""
    from video_pipeline.strips import STRIP_FRAMES, StripIndex, strips_path

    out = run["dir"] / "out"
    for task in ("describe", "caption"):
        strips = StripIndex([strips_path(out / f"res.{task}.jsonl")])
        recs = run["records"][task]
        decoded = [r["__key"] for r in recs if r["status"] == "ok"]
        undecodable = {r["__key"] for r in recs if r["status"] != "ok"} - {
            r["__key"] for r in recs if (r.get("error") or {}).get("kind") == "parse_error"
        }
        assert set(decoded) <= set(strips.where) <= {r["__key"] for r in recs} - undecodable
        assert len(strips) >= 5  # the decoded videos, answered or not
        one = strips.get(next(iter(strips.where)))
        assert 2 <= len(one["frames"]) <= STRIP_FRAMES and one["fingerprint"]
    assert not list(out.glob("*.rank0.strips.jsonl"))  # never mistaken for a journal
    own = [run["dir"] / EVIL_NAME, run["dir"] / "long.mp4"]
    for v in own:
        v.rename(v.with_name(v.name + ".away"))
    try:
        report = tmp_path / "report"
        args = ["--config", str(run["cfg"]), "--out", str(report)]
        assert imported_decoders("video_pipeline.cli.report", *args)[0] == []
    finally:
        for v in own:
            v.with_name(v.name + ".away").rename(v)
    page = open_report(browser, report / "index.html")
    assert broken_images(page) == []
    clip = page.locator(".card", has_text="long.mp4#t=1,3").first
    stamps = [float(s.rstrip(" s")) for s in clip.locator("figcaption").all_inner_texts()]
    assert stamps and all(1.0 <= t <= 3.0 for t in stamps)
    page.fill("#f-search", "onerror")
    page.wait_for_selector("#rows[data-ready='1']")
    assert page.locator(".card").first.locator(".strip img").count() >= 2
