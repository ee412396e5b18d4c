"""Long videos through `launch` for real: a 5-minute video in 30 s windows, killed with
-9 half way through it, resumed with two ranks, merged, rolled up and summarised.

One run in one folder (module-scoped), checked by several tests: every engine start
serves several assertions. The input holds the long video, a short one written with
a path relative to the input's folder, one given as an absolute path, and a missing
file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.clips.conftest import assert_covering, assert_unique
from tests.helpers import demo_config, read_jsonl, run_cli, write_config
from tests.robustness import procs
from video_pipeline.clips.spans import Clip
from video_pipeline.config import load_config
from video_pipeline.fixtures.videos import make_video
from video_pipeline.io.journal import journal_paths
from video_pipeline.io.outputs import problems

pytestmark = pytest.mark.e2e

LONG = "videos/long.mp4"  # 300 s: ten 30 s windows
SHORT = "videos/short.mp4"  # 4 s: one clip, named relative to the input's folder
MISSING = "videos/nope.mp4"


def long_clip_keys() -> list[str]:
    return [f"{LONG}#t={s},{s + 30}" for s in range(0, 300, 30)]


def journal_records(out: Path) -> list[dict[str, Any]]:
    return [r for p in journal_paths(out) for r in read_jsonl(p)]


@pytest.fixture(scope="module")
def run(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("clips e2e")
    make_video(d / LONG, seconds=300, fps=2, width=32, height=32)
    make_video(d / SHORT, seconds=4, fps=4, width=32, height=32, seed=1)
    other = make_video(d / "elsewhere" / "other.mp4", seconds=6, fps=4, width=32, height=32)
    rows = [{"path": LONG}, {"path": SHORT}, {"path": str(other)}, {"path": MISSING}]
    inp = d / "input.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = d / "out" / "res.jsonl"
    raw = demo_config(
        tiny_model,
        inp,
        out,
        clips={"mode": "fixed", "seconds": 30, "summary": True},
        vision={"fps": 0.5},
        run={"plugins": [procs.FAULTS], "max_in_flight": 1},
    )
    cfg = write_config(d / "c.yaml", raw)
    log = d / "launch.log"
    # 1. One rank, slowed engine steps: killed once some of the long video's clips are done.
    launch = procs.start(
        "video_pipeline.cli.launch",
        "--config",
        str(cfg),
        "--nproc",
        "1",
        log=log,
        VP_FAULT_STEP_SLEEP="0.2",
    )

    def long_clips_done() -> int:
        return sum(r.get("video_key") == LONG for r in journal_records(out))

    procs.wait_for(lambda: long_clips_done() >= 2, launch, log)
    procs.kill9(launch)
    killed = journal_records(out)
    # 2. The same command with two ranks, merged: the rest of the clips, then summaries.
    resumed = run_cli("video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "2", "--merge")
    return {
        "dir": d,
        "cfg": cfg,
        "raw": raw,
        "out": out,
        "other": str(other),
        "killed": killed,
        "stderr": resumed.stderr,
    }


def test_killed_mid_video_resumes_at_its_next_clip(run):
    before = [r["__key"] for r in run["killed"] if r.get("video_key") == LONG]
    assert 2 <= len(before) < 10, "the kill did not land inside the long video"
    records = journal_records(run["out"])
    keys = [r["__key"] for r in records]
    assert_unique(keys)  # no clip done twice
    expected = {*long_clip_keys(), f"{SHORT}#t=0,4", f"{run['other']}#t=0,6", MISSING}
    assert set(keys) == expected  # none lost
    assert set(before) <= set(keys)
    assert {r["rank"] for r in records} == {0, 1}  # resumed with two ranks


def test_merged_clips_cover_each_video_once_with_their_global_times(run):
    ok, errors = read_jsonl(run["out"]), read_jsonl(run["out"].with_name("res.errors.jsonl"))
    assert_unique([r["__key"] for r in ok + errors])
    assert [r["__key"] for r in ok] == [
        *long_clip_keys(),
        f"{SHORT}#t=0,4",
        f"{run['other']}#t=0,6",
    ]
    by_video: dict[str, list[Clip]] = {}
    for r in ok:
        assert r["raw"]["path"] in (LONG, SHORT, run["other"])  # the row as written
        by_video.setdefault(r["video_key"], []).append(Clip(**r["clip"]))
        assert r["raw"]["video_start"] == r["clip"]["start"]
        assert r["tokens"]["prompt"] > 0 and r["status"] == "ok"
    assert_covering(by_video[LONG], 0, 300)
    assert_covering(by_video[SHORT], 0, 4)
    assert_covering(by_video[run["other"]], 0, 6)
    (missing,) = errors
    assert missing["__key"] == MISSING and missing["error"]["kind"] == "video_not_found"
    assert str(run["dir"] / MISSING) in missing["error"]["message"]  # the input's folder


def test_the_roll_up_lists_each_video_with_its_clips_in_time_order(run):
    out = run["out"]
    videos = read_jsonl(out.with_name("res.videos.jsonl"))
    assert [v["__key"] for v in videos] == [LONG, SHORT, run["other"], MISSING]
    long = videos[0]
    assert (long["status"], long["ok"], long["duration"]) == ("ok", 10, 300.0)
    assert [c["__key"] for c in long["clips"]] == long_clip_keys()
    assert all(c["status"] == "ok" and c["text"] is not None for c in long["clips"])
    assert long["raw"] == {"path": LONG}
    assert videos[3]["status"] == "error" and videos[3]["error"]["kind"] == "video_not_found"
    manifest = out.with_name("res.merge.json")
    assert problems(manifest) == []
    files = set(json.loads(manifest.read_text())["files"])
    assert files == {"results", "errors", "videos", "strips"}  # strips: run.thumbnails
    assert "rolled up 12 clips into 4 videos (4 complete)" in run["stderr"]


def test_the_summary_pass_writes_one_summary_per_video(run):
    out = run["out"]
    ok = read_jsonl(out.with_name("res.summary.jsonl"))
    errors = read_jsonl(out.with_name("res.summary.errors.jsonl"))
    keys = [r["__key"] for r in ok + errors]
    assert_unique(keys)
    assert set(keys) == {LONG, SHORT, run["other"], MISSING}
    long = next(r for r in ok + errors if r["__key"] == LONG)
    assert long["task"] == "clip_summary"
    captions = long["raw"]["captions"]
    assert [(c["start"], c["end"]) for c in captions] == [(s, s + 30.0) for s in range(0, 300, 30)]
    clip_text = {
        r["clip"]["start"]: r["text"].strip() for r in read_jsonl(out) if r["video_key"] == LONG
    }
    assert [c["text"] for c in captions] == [clip_text[c["start"]] for c in captions]
    assert long["tokens"]["prompt"] > 10 * 3  # the captions are in the prompt
    missing = next(r for r in errors if r["__key"] == MISSING)
    assert missing["error"]["kind"] == "video_not_found"
    # It resumes like any task: its journals hold each video once.
    summary_keys = [
        r["__key"] for p in journal_paths(out.with_name("res.summary.jsonl")) for r in read_jsonl(p)
    ]
    assert sorted(summary_keys) == sorted(keys)


def test_verify_checks_clips_and_summaries(run, capsys):
    from video_pipeline.cli.verify import main

    assert main(["--config", str(run["cfg"]), "--complete"]) == 0
    out = capsys.readouterr().out
    assert out.count("  OK") == 2, out
    assert "task describe" in out and "task clip_summary" in out
    # 12 clips and the missing video's one error row; then one summary per video
    assert ": 13 input keys" in out and ": 4 input keys" in out


def test_preflight_reports_clips_per_video_and_tokens_per_clip(run, tiny_model):
    from video_pipeline.clips.run import run_configs
    from video_pipeline.preflight import run_preflight

    (one,) = run_configs(load_config(run["cfg"]), expand=True)
    report = run_preflight(one)
    assert report.clips is not None
    assert (report.clips["videos"], report.clips["clips"], report.clips["per_video_max"]) == (
        4,
        12,
        10,
    )
    assert report.clips["videos_failed"] == 1 and report.ok == 12
    assert 0 < report.clips["tokens_per_clip_mean"] <= report.clips["tokens_per_clip_max"]
    assert "clips: 4 videos -> 12 clips" in report.summary()
    # Without clips the whole long video is one prompt: over a small budget, with the hint.
    raw = {**run["raw"], "clips": {"mode": "none"}}
    raw["vllm"] = {**raw["vllm"], "max_model_len": report.clips["tokens_per_clip_max"] + 8}
    probes = run["dir"] / "probes.jsonl"
    over = run_preflight(load_config(data=raw), probes_out=probes)
    (video,) = over.over_budget_videos
    assert video["key"] == LONG and over.clips is None
    (error,) = [p["error"] for p in read_jsonl(probes) if p["key"] == LONG]
    assert error["kind"] == "too_many_tokens" and "clips.mode" in error["message"]


def test_the_report_shows_the_videos_and_summaries_beside_the_clips(run):
    """The report of a clip run: the roll-up's counts, the summary pass as a task of its
    own, and each sampled video's clips in time order with its summary beside them."""
    from tests.report.browser import chromium, open_report

    report = run["dir"] / "report"
    run_cli("video_pipeline.cli.report", "--config", str(run["cfg"]), "--out", str(report))
    summary = json.loads(
        (report / "data" / "summary.js").read_text()[len("REPORT.summary = ") : -2]
    )
    clips, summaries = summary["tasks"]
    assert (clips["name"], summaries["name"]) == ("describe", "describe.summary")
    videos = clips["videos"]
    assert (videos["videos"], videos["clips"]) == (4, 12)
    assert videos["counts"] == {"ok": 3, "error": 1}
    assert summaries["quality"]["records"] == 4 and summaries["videos"] is None
    with chromium() as ctx:
        page = open_report(ctx, report / "index.html")
        assert "describe.summary" in page.inner_text("#stats")
        page.click(".videos details summary")
        page.wait_for_selector("#videos-0[data-ready='1']")
        long = page.locator(f"[data-video='{LONG}']")
        starts = [
            r.split(" ")[0] for r in long.locator("table.clips td:first-child").all_inner_texts()
        ]
        assert starts == [f"{s}-{s + 30}" for s in range(0, 300, 30)]
        assert long.locator(".summary").count() == 1  # its summary beside its clips
        missing = page.locator(f"[data-video='{MISSING}']")
        assert "video_not_found" in missing.inner_text()
        page.select_option("#f-task", label="describe")
        page.wait_for_selector("#rows[data-ready='1']")
        assert f"of {LONG}" in page.inner_text("#rows")  # a clip card names its video
        assert page.problems == [] and ctx.outside == []


def test_the_summary_is_a_stage_given_its_videos_clip_records(run):
    """The summary is a stage after the clip task, joined by video: each summary record's
    `upstream` is its video's clip records that answered, in time order."""
    out = run["out"]
    clips = sorted(read_jsonl(out), key=lambda r: r["clip"]["start"])
    for rec in read_jsonl(out.with_name("res.summary.jsonl")):
        mine = [c for c in clips if c["video_key"] == rec["__key"]]
        assert rec["upstream"] == {
            "describe": {
                "clips": [{**c["clip"], "text": c["text"], "result": c["result"]} for c in mine]
            }
        }
