"""The workflow with clips on, for real: two shards, two tasks, one task targeted.

One targeted run (`results/describe.videos.jsonl` and its summaries) of a workflow
with two tasks: the input is expanded per shard, the clips are dealt out to both infer
jobs by clip key (the 5-minute video's clips land in both), the task is merged, rolled
up per video and summarised, and the other task never runs. The same target again has
nothing to do. Video paths in the input are relative to its folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clips.conftest import assert_covering, assert_unique
from tests.workflow.smk import jobs_run, read_records, run_snakemake, write_yaml
from video_pipeline.clips.spans import Clip
from video_pipeline.fixtures.videos import make_video

pytestmark = pytest.mark.e2e

LONG, SHORT, MISSING = "videos/long.mp4", "videos/short.mp4", "videos/nope.mp4"
TARGETS = ("out/results/describe.videos.jsonl", "out/results/describe.summary.jsonl")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, sm_env: dict) -> dict:
    d = tmp_path_factory.mktemp("workflow clips")
    make_video(d / LONG, seconds=300, fps=2, width=32, height=32)
    make_video(d / SHORT, seconds=4, fps=4, width=32, height=32, seed=1)
    rows = d / "input.jsonl"
    rows.write_text("".join(json.dumps({"path": p}) + "\n" for p in (LONG, SHORT, MISSING)))
    overlay = write_yaml(
        d / "overlay.yaml",
        {
            "input": str(rows),
            "outdir": "out",
            "tasks": [
                {"name": "describe", "task_params": {"prompt": "Describe this video."}},
                {"name": "other", "task": "describe"},
            ],
            "report": False,
            "num_shards": 2,
            "clips": {"mode": "fixed", "seconds": 30, "summary": True},
            "vllm": {"model": str(tiny_model)},
            "vision": {"fps": 0.5},
            "sampling": {"max_tokens": 8},
        },
    )
    first = run_snakemake(d, [overlay], "--cores", "2", env=sm_env, targets=TARGETS)
    again = run_snakemake(d, [overlay], "--cores", "2", env=sm_env, targets=TARGETS)
    return {"dir": d, "out": d / "out", "first": first, "again": again}


def test_only_the_targeted_task_runs_and_clips_spread_over_both_jobs(run):
    jobs = jobs_run(run["first"])
    infers = sorted(
        sorted(j.split("(")[1].rstrip(")").split(", ")) for j in jobs if j.startswith("infer")
    )
    assert infers == [["shard=00000", "task=describe"], ["shard=00001", "task=describe"]]
    for rule in ("shard", "expand_clips", "clip_shards", "merge", "rollup", "summarize"):
        assert any(j.split()[0] == rule for j in jobs), rule
    assert not (run["out"] / "work" / "other").exists()
    assert not list((run["out"] / "results").glob("other*"))
    dealt = [read_records(run["out"] / "clips" / f"{s}.jsonl") for s in ("00000", "00001")]
    for rows in dealt:  # the long video is no one job's alone
        assert any(r.get("video_key") == LONG for r in rows)
    assert_unique([r["__key"] for rows in dealt for r in rows])
    assert "Nothing to be done" in run["again"].stdout + run["again"].stderr
    assert not [j for j in jobs_run(run["again"]) if j != "all"]


def test_each_clip_once_covering_its_video(run):
    res = run["out"] / "results"
    ok, errors = read_records(res / "describe.jsonl"), read_records(res / "describe.errors.jsonl")
    keys = [r["__key"] for r in ok + errors]
    assert_unique(keys)
    assert set(keys) == {
        *(f"{LONG}#t={s},{s + 30}" for s in range(0, 300, 30)),
        f"{SHORT}#t=0,4",
        MISSING,
    }
    clips = sorted((Clip(**r["clip"]) for r in ok if r["video_key"] == LONG), key=lambda c: c.start)
    assert_covering(clips, 0, 300)
    (missing,) = errors
    assert missing["error"]["kind"] == "video_not_found"
    assert str(run["dir"] / MISSING) in missing["error"]["message"]  # the input's folder


def test_roll_up_and_summaries_per_video(run):
    res = run["out"] / "results"
    videos = read_records(res / "describe.videos.jsonl")
    assert sorted(v["__key"] for v in videos) == sorted([LONG, SHORT, MISSING])
    long = next(v for v in videos if v["__key"] == LONG)
    assert (long["status"], long["ok"], long["duration"]) == ("ok", 10, 300.0)
    starts = [c["clip"]["start"] for c in long["clips"]]
    assert starts == sorted(starts) and len(starts) == 10
    ok = read_records(res / "describe.summary.jsonl")
    errors = read_records(res / "describe.summary.errors.jsonl")
    keys = [r["__key"] for r in ok + errors]
    assert_unique(keys)
    assert set(keys) == {LONG, SHORT, MISSING}
    assert len(next(r for r in ok if r["__key"] == LONG)["raw"]["captions"]) == 10
    stats = json.loads((res / "describe.summary.stats.json").read_text())
    assert stats["ok"] + stats["failed"] == 3


def test_report_of_the_workflow_config_shows_videos_and_summaries(run, monkeypatch, tmp_path):
    """`report` given the workflow config: the targeted task's videos from its roll-up,
    its summaries beside them and as a task of their own."""
    from video_pipeline.cli.report import main

    monkeypatch.chdir(run["dir"])
    assert main(["--config", "overlay.yaml", "--task", "describe", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "data" / "summary.js").read_text()
    summary = json.loads(text[len("REPORT.summary = ") : -2])
    clips, summaries = summary["tasks"]
    assert summaries["name"] == "describe.summary" and summaries["quality"]["records"] == 3
    assert (clips["videos"]["videos"], clips["videos"]["clips"]) == (3, 11)
    sample = (tmp_path / "data" / "videos-t0.js").read_text()
    videos = json.loads(sample[len("REPORT.videoSample(0, ") : -3])
    long = next(v for v in videos if v["key"] == LONG)
    assert [c["start"] for c in long["clips"]] == [float(s) for s in range(0, 300, 30)]
    assert "summary" in long
