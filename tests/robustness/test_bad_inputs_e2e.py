"""The bad-input suite through `launch` with the real engine: one record per input key.

One run (2 ranks) covers broken files, odd videos, bad rows, a folder and a FIFO, clip
rows of one file, a file name that is not UTF-8, a decoder that blocks in native code
past the deadline, one that dies by a real SIGSEGV, and a video over the token budget;
the other samples must be unaffected, and a rerun must not decode the bad ones again.

The run has the GPU layout: each rank's engine in its own process, which starts far
slower than run.decode_timeout_s (and slower still by a test hook): decodes that finish
while nothing takes them yet are good samples, never timeouts. The rerun keeps the
engine in-process.
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
from video_pipeline.tasks.describe import DEFAULT_PROMPT

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
        VP_FAULT_ENGINE_START_SLEEP="5",  # > run.decode_timeout_s however fast the engine
        # vLLM's offline engine waits for its core's model load without a limit: this
        # variable bounds only a wait after the core reported ready, so a start of 35 s
        # and more (a large model's: many minutes) is never cut short by it
        VLLM_ENGINE_READY_TIMEOUT_S="1",
        **procs.ENGINE_PROCESS,
    )
    rc, text = procs.finish(proc, log, timeout=600)
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
    """With the pre-check out of the way, vLLM's own rejection becomes one error record.

    Engine in its own process, two tasks on one decode, a video repeated under another
    key: the `wordy` task's prompt is too long for every video, so the engine refuses
    each of its requests after the processor cache took the video as sent. The engine
    then has no data for `describe`'s request of the same video and ends it with an
    error instead of an answer; it must be sent again, never become an empty answer.
    """
    long = make_video(tmp_path / "long.mp4", seconds=4.0, fps=8)  # 117 tokens
    short = sorted(video_dir.glob("*.mp4"))[:3]  # 109 tokens each
    videos = [short[0], long, *short[1:], short[0]]  # the first video again, another key
    inp = write_input_jsonl(
        tmp_path / "in.jsonl", videos, extra_fields=lambda i, _: {"id": f"row{i}"}
    )
    raw = demo_config(
        tiny_model,
        inp,
        tmp_path / "o.{task}.jsonl",
        data={"id_field": "id"},
        vllm={"max_model_len": 113},
        run={"plugins": [procs.FAULTS]},
    )
    del raw["run"]["task"]
    # 8 text tokens more: 110 as text, under the limit; 117 and more with a video's
    wordy = {"prompt": f"{DEFAULT_PROMPT} Be brief."}
    raw["tasks"] = [
        {"name": "wordy", "task": "describe", "task_params": wordy},
        {"name": "describe"},
    ]
    cfg = write_config(tmp_path / "c.yaml", raw)
    log = tmp_path / "launch.log"
    args = ("--config", str(cfg), "--nproc", "1", "--merge")
    env = {"VP_FAULT_NO_BUDGET": "1", **procs.ENGINE_PROCESS}
    proc = procs.start("video_pipeline.cli.launch", *args, log=log, **env)
    rc, text = procs.finish(proc, log, timeout=600)
    assert rc == 0, text[-4000:]
    [err] = read_jsonl(tmp_path / "o.describe.errors.jsonl")
    assert err["__key"] == "row1" and err["error"]["kind"] == "too_many_tokens"
    assert "longer than the maximum model length" in err["error"]["message"]
    answers = read_jsonl(tmp_path / "o.describe.jsonl")
    assert sorted(r["__key"] for r in answers) == ["row0", "row2", "row3", "row4"]
    assert all(r["text"] for r in answers)  # an answer each, none empty
    refused = read_jsonl(tmp_path / "o.wordy.errors.jsonl")
    assert {r["error"]["kind"] for r in refused} == {"too_many_tokens"} and len(refused) == 5
    # The cache path ran: hits (the repeated video) and requests sent again after a miss.
    stats = json.loads((tmp_path / "o.describe.rank0.stats.json").read_text())
    assert stats["processor_cache"]["hits"] >= 1, stats["processor_cache"]
    assert stats["processor_cache"]["resent"] >= 1, stats["processor_cache"]
