"""preflight: every row of the bad-input suite probed through the run's decode path."""

from __future__ import annotations

import json

import pytest

from tests.helpers import demo_config, run_cli, write_config
from tests.robustness.bad_inputs import SUITE_MAX_MODEL_LEN
from video_pipeline.config import load_config
from video_pipeline.preflight import run_preflight


@pytest.fixture(scope="module")
def suite_config(bad_suite, tiny_model, tmp_path_factory):
    inp, _ = bad_suite
    out = tmp_path_factory.mktemp("preflight") / "o.jsonl"
    return demo_config(
        tiny_model, inp, out, data={"num_workers": 2}, vllm={"max_model_len": SUITE_MAX_MODEL_LEN}
    )


def test_report_predicts_each_rows_fate(suite_config, bad_suite, processor, tmp_path):
    _, expected = bad_suite
    probes = tmp_path / "probes.jsonl"
    report = run_preflight(load_config(data=suite_config), 20000.0, probes, processor)
    got = {}
    for line in probes.read_text().splitlines():
        p = json.loads(line)
        got[p["key"]] = (
            "ok"
            if p["status"] == "ok"
            else ("too_many_tokens" if p["status"] == "over_budget" else p["error"]["kind"])
        )
    assert got == expected
    assert report.rows == len(expected) + 1 and report.duplicates == 1  # one repeated row
    assert report.ok == sum(v == "ok" for v in expected.values())
    assert report.over_budget == 1
    assert report.over_budget_videos[0]["tokens"] >= SUITE_MAX_MODEL_LEN
    ok = [json.loads(x) for x in probes.read_text().splitlines() if '"status": "ok"' in x]
    assert report.prompt_tokens == sum(p["tokens"] for p in ok)
    assert report.gpu_hours == pytest.approx(report.prompt_tokens / 20000 / 3600)
    odd = next(p for p in ok if p["key"].endswith("odd size.avi"))
    assert (odd["frames"], odd["source_frames"], odd["duration_s"]) == (4, 8, 1.0)
    assert "GPU-hours" in report.summary() and "long_lowres.mp4" in report.summary()
    # the decode prediction samples the frames the decode sampled, at the same size
    for p in ok:
        pred = p["predicted"]
        assert (pred["sampled_frames"], pred["frame_size"]) == (
            p["frames"],
            f"{p['height']}x{p['width']}",
        ), p["key"]
        assert pred["cpu_s"] > 0 and pred["peak_mb"] >= 512
    assert report.decode["videos"] >= len(ok) and report.decode["cores_per_gpu"] > 0
    assert "host cores per GPU" in report.summary()


def test_cli_json_and_strict_exit(suite_config, tmp_path):
    path = write_config(tmp_path / "c.yaml", suite_config)
    args = ["--config", str(path), "--json", "--strict", "--tokens-per-s", "1000"]
    proc = run_cli("video_pipeline.cli.preflight", *args, check=False)
    assert proc.returncode == 1  # --strict: some rows fail
    data = json.loads(proc.stdout)
    assert data["failed"] == len(data["errors"]) > 0
    assert data["gpu_hours"] == pytest.approx(data["prompt_tokens"] / 1000 / 3600)


def test_cli_decode_budgets(suite_config, tmp_path):
    """A node too small for its workers: every predicted video is over its memory share,
    named with the clips suggestion; cores per GPU follow the engine rate given."""
    path = write_config(tmp_path / "c.yaml", suite_config)
    args = ["--config", str(path), "--json", "--videos-per-gpu-hour", "3600"]
    args += ["--host-memory-gb", "1", "--ranks-per-node", "4"]
    proc = run_cli("video_pipeline.cli.preflight", *args)
    d = json.loads(proc.stdout)["decode"]
    assert d["worker_budget_mb"] == pytest.approx(1024 / 4 / 2)  # 2 workers per rank
    assert d["cores_per_gpu"] == pytest.approx(d["cpu_s_mean"], abs=0.01)  # one a second
    warned = json.loads(proc.stdout)["decode_warnings"]
    assert d["over_memory"] == d["videos"] == len(warned) > 0
    assert all("clips.mode" in w["suggest"] for w in warned)
