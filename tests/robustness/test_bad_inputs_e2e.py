"""The bad-input suite through `launch` with the real engine: one record per input key.

One run (2 ranks) covers broken files, odd videos, bad rows, a folder and a FIFO, clip
rows of one file, a file name that is not UTF-8, a decoder that blocks in native code
past the deadline, one that dies by a real SIGSEGV, and a video over the token budget;
the other samples must be unaffected, and a rerun must not decode the bad ones again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import demo_config, read_jsonl, run_cli, write_config
from tests.robustness import procs
from tests.robustness.bad_inputs import SUITE_MAX_MODEL_LEN
from video_pipeline.config import load_config
from video_pipeline.errors import ERROR_KINDS
from video_pipeline.fixtures.videos import make_video, write_input_jsonl
from video_pipeline.preflight import run_preflight

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def suite_run(bad_suite, tiny_model, tmp_path_factory):
    inp, expected = bad_suite
    d = tmp_path_factory.mktemp("bad_e2e")
    hang = make_video(d / "HANGS_forever.mp4", seconds=1.0, fps=8, seed=7)
    crash = make_video(d / "CRASHES_decoder.mp4", seconds=1.0, fps=8, seed=8)
    with_hang = d / "input.jsonl"
    extra = "".join(json.dumps({"path": str(p)}) + "\n" for p in (hang, crash))
    with_hang.write_text(inp.read_text() + extra)
    expected = {**expected, str(hang): "decode_timeout", str(crash): "decode_crash"}
    raw = demo_config(
        tiny_model,
        with_hang,
        d / "out" / "o.jsonl",
        vllm={"max_model_len": SUITE_MAX_MODEL_LEN},
        run={"decode_timeout_s": 3, "plugins": [procs.FAULTS]},
    )
    cfg = write_config(d / "c.yaml", raw)
    log = d / "launch.log"
    proc = procs.start(
        "video_pipeline.cli.launch",
        *("--config", str(cfg), "--nproc", "2", "--merge"),
        log=log,
        VP_FAULT_HANG="HANGS_forever",
        VP_FAULT_SEGV="CRASHES_decoder",
    )
    rc, text = procs.finish(proc, log)
    return raw, cfg, expected, rc, text


def test_run_finishes_with_one_record_per_key(suite_run):
    raw, _, expected, rc, text = suite_run
    assert rc == 0, text[-4000:]
    out = raw["data"]["output_jsonl"]
    results = read_jsonl(Path(out))
    errors = read_jsonl(Path(out.replace(".jsonl", ".errors.jsonl")))
    keys = [r["__key"] for r in results + errors]
    assert sorted(keys) == sorted(expected)  # each key once, nothing else
    got = {r["__key"]: "ok" for r in results}
    got.update({r["__key"]: r["error"]["kind"] for r in errors})
    assert got == expected
    for r in errors:
        assert r["error"]["kind"] in ERROR_KINDS and len(r["error"]["message"]) > 10
        assert r["error"]["transient"] == ERROR_KINDS[r["error"]["kind"]].transient
    crash = next(r for r in errors if r["error"]["kind"] == "decode_crash")
    assert "SIGSEGV" in crash["error"]["message"]


def test_a_rerun_decodes_none_of_them_again(suite_run, tmp_path):
    raw, cfg, expected, *_ = suite_run
    log = tmp_path / "rerun.log"
    proc = procs.start(
        "video_pipeline.cli.launch",
        *("--config", str(cfg), "--nproc", "2"),
        log=log,
        VP_FAULT_HANG="HANGS_forever",
        VP_FAULT_SEGV="CRASHES_decoder",
    )
    rc, text = procs.finish(proc, log, timeout=120)
    assert rc == 0, text[-4000:]
    stem = raw["data"]["output_jsonl"][: -len(".jsonl")]
    stats = [json.loads(Path(f"{stem}.rank{r}.stats.json").read_text()) for r in (0, 1)]
    assert [(s["todo"], s["decodes"]) for s in stats] == [(0, 0), (0, 0)]
    assert sum(s["skipped_done"] for s in stats) == len(expected)


def test_verify_passes_on_the_finished_run(suite_run):
    _, cfg, *_ = suite_run
    proc = run_cli("video_pipeline.cli.verify", "--config", str(cfg), "--complete")
    assert "violation" not in proc.stdout.lower() and proc.stdout.rstrip().endswith("OK")


def test_preflight_counted_the_tokens_the_engine_saw(suite_run, processor):
    raw, *_ = suite_run
    probes = Path(raw["data"]["output_jsonl"]).with_suffix(".probes.jsonl")
    run_preflight(load_config(data=raw), None, probes, processor)
    predicted = {p["key"]: p.get("tokens") for p in map(json.loads, probes.open())}
    results = read_jsonl(Path(raw["data"]["output_jsonl"]))
    assert len(results) >= 8
    for r in results:
        assert r["tokens"]["prompt"] == predicted[r["__key"]], r["__key"]


def test_engine_rejects_an_over_long_prompt_alone(tmp_path, tiny_model, video_dir):
    """With the pre-check out of the way, vLLM's own rejection becomes one error record."""
    long = make_video(tmp_path / "long.mp4", seconds=4.0, fps=8)  # 117 tokens
    short = sorted(video_dir.glob("*.mp4"))[:3]  # 109 tokens each
    inp = write_input_jsonl(tmp_path / "in.jsonl", [short[0], long, *short[1:]])
    raw = demo_config(
        tiny_model,
        inp,
        tmp_path / "o.jsonl",
        vllm={"max_model_len": 113},
        run={"plugins": [procs.FAULTS]},
    )
    cfg = write_config(tmp_path / "c.yaml", raw)
    log = tmp_path / "launch.log"
    args = ("--config", str(cfg), "--nproc", "1", "--merge")
    proc = procs.start("video_pipeline.cli.launch", *args, log=log, VP_FAULT_NO_BUDGET="1")
    rc, text = procs.finish(proc, log)
    assert rc == 0, text[-4000:]
    [err] = read_jsonl(tmp_path / "o.errors.jsonl")
    assert err["__key"] == str(long) and err["error"]["kind"] == "too_many_tokens"
    assert "longer than the maximum model length" in err["error"]["message"]
    assert len(read_jsonl(tmp_path / "o.jsonl")) == 3
