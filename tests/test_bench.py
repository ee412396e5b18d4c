"""`cli.bench`: the pipeline against the engine alone, on the config's own videos."""

from __future__ import annotations

import json

import pytest

from tests.helpers import demo_config, run_cli, write_config

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def config(tiny_model, video_dir, tmp_path_factory):
    from video_pipeline.fixtures.real_videos import make_real_video
    from video_pipeline.fixtures.videos import write_input_jsonl

    d = tmp_path_factory.mktemp("bench")
    real = make_real_video(d / "real1080.mp4", 2, 1920, 1080)  # 1080p x264: real decode
    inp = write_input_jsonl(d / "input.jsonl", [real, *sorted(video_dir.glob("*.mp4"))])
    raw = demo_config(tiny_model, inp, d / "out" / "o.jsonl", sampling={"max_tokens": 16})
    return write_config(d / "c.yaml", raw)


def test_bench_measures_both_runs_on_the_same_videos(config):
    args = ("--config", str(config), "--n", "6", "--repeat", "2", "--json")
    proc = run_cli("video_pipeline.cli.bench", *args)
    m = json.loads(proc.stdout)
    assert m["videos"] == 6
    assert m["pipeline_s"] > 0 and m["engine_alone_s"] > 0
    assert 0 < m["ratio"] < 3
    # fixed-length answers: every video generated exactly max_tokens tokens
    assert m["generated_tokens_per_s"] * m["pipeline_s"] == pytest.approx(6 * 16, rel=0.01)
    t = m["times"]
    assert t["step_s"] > 0 and 0 <= t["outside_step_share"] < 1
    assert m["device"].startswith(("CPU", "GPU"))
    # two pairs on one engine, the median one reported
    assert len(m["ratios"]) == 2 and m["ratio"] == min(m["ratios"])
    # a 16-token answer takes at least 16 steps; at most the 6 videos are in flight
    st = m["steps"]
    assert st["pipeline"] >= 16 and st["engine_alone"] >= 16
    assert 0 < st["pipeline_mean_in_flight"] <= 6 and 0 < st["engine_alone_mean_in_flight"] <= 6
    assert st["step_ms_pipeline"] > 0 and st["step_ms_engine_alone"] > 0
    for half in ("pipeline", "engine_alone"):  # a thread's CPU time within its wall
        assert 0 < st[f"step_cpu_ms_{half}"] <= st[f"step_ms_{half}"] * 1.01
    # decode figures; each worker's peak RSS growth within the bound (frames.py): its
    # largest output's uint8 frames + 0.5 GB (a 1080p video is decoded a chunk at a time)
    dec = m["decode"]
    assert dec["cpu_s_per_video_min"] > 0
    assert dec["frames_decoded"] >= dec["frames_kept"] >= 6 * 4
    peaks, outs = dec["workers_peak_rss_mb"], dec["workers_out_mb"]
    assert peaks and peaks.keys() == outs.keys()
    assert all(outs[pid] > 0 and peaks[pid] < outs[pid] + 512 for pid in peaks), (peaks, outs)


def test_sweep_prints_a_table_best_first(config):
    grid = ("--grid", "run.render_threads=1,2")
    proc = run_cli(
        "video_pipeline.cli.bench", "--config", str(config), "--n", "4", "--sweep", *grid
    )
    lines = proc.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["videos/s", "ratio"]
    rows = lines[1:]
    assert len(rows) == 2 and {r.split()[-1] for r in rows} == {
        "run.render_threads=1",
        "run.render_threads=2",
    }
    speeds = [float(r.split()[0]) for r in rows]
    assert speeds == sorted(speeds, reverse=True)
