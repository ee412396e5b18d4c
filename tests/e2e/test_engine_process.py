"""vLLM in its own process model (as on GPUs): the EngineCore killed alone.

With VLLM_ENABLE_V1_MULTIPROCESSING=1 the engine's core runs in a process of its own.
`kill -9` of that process alone must stop the rank with a clear message, leave no
process of the run behind, and a rerun must complete every key exactly once. The kill
lands while the rank waits in `step()` for the core's next output, where vLLM's own
client would wait forever (engine/vllm_engine.py `fail_fast_on_dead_core`).

The rerun is also the proof that seeded sampling works on vLLM's CPU build with more
prompt tokens waiting than `vllm.max_num_batched_tokens` (16 prompts of about 110 tokens
in flight against 512): a chunked prefill of a seeded request stops a CPU engine.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.helpers import demo_config, read_jsonl, run_cli, write_config
from tests.robustness import procs
from video_pipeline.config import load_config
from video_pipeline.fixtures.videos import make_video_set, write_input_jsonl
from video_pipeline.verify import verify_run

pytestmark = pytest.mark.e2e

N = 16
MULTIPROCESS = procs.ENGINE_PROCESS


@pytest.fixture(scope="module")
def killed_core(tiny_model, tmp_path_factory):
    d = tmp_path_factory.mktemp("engine_core")
    videos = make_video_set(d / "videos", N, seconds=2.0, fps=8, width=64, height=48)
    inp = write_input_jsonl(d / "input.jsonl", videos)
    raw = demo_config(
        tiny_model,
        inp,
        d / "out" / "o.jsonl",
        vllm={"max_model_len": 512, "max_num_batched_tokens": 512},
        sampling={"seed": 0, "max_tokens": 96},
        # Two long answers in flight: the rank spends its time waiting in step() for the
        # core's next output, which is where the core's death must reach it.
        run={"max_in_flight": 2},
    )
    cfg = write_config(d / "c.yaml", raw)
    log = d / "launch.log"
    args = ("--config", str(cfg), "--nproc", "1")
    p = procs.start("video_pipeline.cli.launch", *args, log=log, **MULTIPROCESS)
    out = Path(raw["data"]["output_jsonl"])
    procs.wait_for(lambda: procs.journal_lines(out) >= 1, p, log, timeout=400)
    [core] = procs.engine_cores(p.pid)  # the one rank's engine core
    tree = procs.descendants(p.pid)
    os.kill(core, signal.SIGKILL)
    rc, text = procs.finish(p, log, timeout=120)
    deadline = time.monotonic() + 30
    alive = tree
    while alive and time.monotonic() < deadline:
        alive = {q for q in tree if Path(f"/proc/{q}").exists() and not procs.is_zombie(q)}
        time.sleep(0.1)
    done_before = procs.journal_lines(out)
    log2 = d / "rerun.log"
    wide = ("--set", f"run.max_in_flight={N}")  # every remaining prompt in flight at once
    p2 = procs.start("video_pipeline.cli.launch", *args, *wide, "--merge", log=log2, **MULTIPROCESS)
    rc2, text2 = procs.finish(p2, log2, timeout=600)
    return {
        "raw": raw,
        "cfg": cfg,
        "rc": rc,
        "log": text,
        "left": alive,
        "done_before": done_before,
        "rc2": rc2,
        "log2": text2,
        "keys": {str(v) for v in videos},
    }


def test_the_rank_stops_with_a_clear_message(killed_core):
    log = killed_core["log"]
    assert killed_core["rc"] != 0, log[-3000:]
    assert "the engine failed in" in log and "EngineDeadError" in log, log[-3000:]
    assert "rerun the same command to resume" in log
    assert 0 < killed_core["done_before"] < N  # killed mid-run, with results journaled


def test_no_process_of_the_run_is_left(killed_core):
    assert not killed_core["left"], f"left running: {sorted(killed_core['left'])}"


def test_the_rerun_completes_each_key_once(killed_core):
    assert killed_core["rc2"] == 0, killed_core["log2"][-4000:]
    raw = killed_core["raw"]
    out = Path(raw["data"]["output_jsonl"])
    results = read_jsonl(out)
    assert sorted(r["__key"] for r in results) == sorted(killed_core["keys"])
    assert not read_jsonl(out.with_name("o.errors.jsonl"))
    assert not verify_run(load_config(data=raw), require_complete=True).violations
    proc = run_cli("video_pipeline.cli.verify", "--config", str(killed_core["cfg"]), "--complete")
    assert proc.stdout.rstrip().endswith("OK")
