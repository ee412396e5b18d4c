"""The workflow's quality and report rules, run for real on one small task.

One Snakemake run (tiny model, CPU rank, one shard) with `report: true`; then a dry
run with a quality threshold changed: the checks and the report rerun, nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.report.browser import all_keys, broken_images, chromium, open_report
from tests.workflow.smk import jobs_run, read_records, run_snakemake, write_yaml
from video_pipeline.fixtures.videos import write_input_jsonl

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, video_dir: Path, sm_env):
    workdir = tmp_path_factory.mktemp("wf_report")
    rows = write_input_jsonl(workdir / "input.jsonl", sorted(video_dir.glob("*.mp4"))[:4])
    overlay = {
        "input": str(rows),
        "outdir": "out",
        "tasks": [{"name": "describe", "task_params": {"prompt": "Describe this video."}}],
        "num_shards": 1,
        "report": True,
        "vllm": {"model": str(tiny_model)},
    }
    cfg = write_yaml(workdir / "overlay.yaml", overlay)
    proc = run_snakemake(workdir, [cfg], "--cores", "2", env=sm_env)
    return {"dir": workdir, "out": workdir / "out", "proc": proc, "overlay": overlay}


def test_report_and_quality_rules(run: dict) -> None:
    jobs = jobs_run(run["proc"])
    assert "report" in jobs and "quality (task=describe)" in jobs
    q = json.loads((run["out"] / "results" / "describe.quality.json").read_text())
    records = read_records(run["out"] / "results" / "describe.jsonl")
    assert q["records"] == len(records) == 4
    # the tiny model stops at max_tokens: every answer is truncated, and summaries say so
    truncated = sum(r["finish_reason"] == "length" for r in records)
    assert q["flags"]["truncated"] == truncated > 0
    tsv = (run["out"] / "summary.tsv").read_text().splitlines()
    assert tsv[0].split("\t")[-1] == "flags"
    assert f"truncated={truncated}" in tsv[1].split("\t")[-1]
    printed = run["proc"].stdout + run["proc"].stderr
    assert "flags" in printed.split("per-task summary")[1]


def test_report_page_of_the_workflow(run: dict) -> None:
    index = run["out"] / "report" / "index.html"
    with chromium() as ctx:
        page = open_report(ctx, index)
        keys = sorted(r["__key"] for r in read_records(run["out"] / "results" / "describe.jsonl"))
        assert sorted(all_keys(page)) == keys
        assert broken_images(page) == [] and page.locator(".strip img").count() >= 4 * 2
        # videos/s per rank over time: the chart of the shard's rank timeline
        assert any(
            "videos/s" in (a or "")
            for a in page.eval_on_selector_all("img", "i => i.map(x => x.alt)")
        )
        assert page.problems == [] and ctx.outside == []
    summary = (run["out"] / "report" / "data" / "summary.js").read_text()
    assert '"timeline"' not in summary  # aggregates only, charts are SVG files
    stats = json.loads((run["out"] / "parts" / "describe" / "00000.stats.json").read_text())
    assert stats["rank_stats"][-1][0]["timeline"][-1][1] == 4
    # the run's thumbnails went from the ranks to the part to the results
    from video_pipeline.strips import StripIndex

    assert "strips" not in stats["files"]  # parts/ holds rule outputs only (--forcerun parts/*)
    assert (run["out"] / "work" / "describe" / "00000" / "describe.part.strips").is_file()
    assert sorted(p.name for p in (run["out"] / "parts" / "describe").glob("*")) == [
        "00000.errors.jsonl",
        "00000.jsonl",
        "00000.stats.json",
    ]
    results = json.loads((run["out"] / "results" / "describe.stats.json").read_text())
    assert results["files"]["strips"]["path"] == "describe.strips"
    strips = StripIndex([run["out"] / "results" / "describe.strips"])
    assert sorted(strips.where) == keys


def test_quality_thresholds_rerun_no_inference(run: dict, sm_env: dict) -> None:
    run["overlay"]["quality"] = {"repetition_threshold": 0.2}
    cfg = write_yaml(run["dir"] / "overlay2.yaml", run["overlay"])
    proc = run_snakemake(run["dir"], [cfg], "--cores", "2", "-n", env=sm_env)
    assert sorted(jobs_run(proc)) == ["all", "quality (task=describe)", "report", "summary"]
