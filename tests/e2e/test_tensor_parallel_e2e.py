"""tensor_parallel_size 2 on vLLM's CPU build: one rank whose engine runs two workers.

vLLM's multiprocess executor starts the engine's tensor-parallel workers (gloo between
them); the rank's cores are split between the two (VLLM_CPU_OMP_THREADS_BIND "a|b").
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import (
    REPO,
    cli_env,
    demo_config,
    input_keys,
    processor_counts,
    read_jsonl,
    vision_for,
    write_config,
)
from video_pipeline.config import load_config
from video_pipeline.fixtures.videos import make_video_set, write_input_jsonl

pytestmark = pytest.mark.e2e


def test_one_rank_with_a_two_worker_engine(tmp_path, tiny_qwen3_vl):
    model = tiny_qwen3_vl
    videos = make_video_set(tmp_path / "v", 4, seconds=2.0, fps=8)
    inp = write_input_jsonl(tmp_path / "in.jsonl", videos)
    out = tmp_path / "out" / "res.jsonl"
    raw = demo_config(
        model,
        inp,
        out,
        vision=vision_for(model),
        vllm={"tensor_parallel_size": 2},
        sampling={"max_tokens": 4},
    )
    cfg = write_config(tmp_path / "c.yaml", raw)
    cmd = ["-m", "video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "1", "--merge"]
    env = {**cli_env(), "VLLM_LOGGING_LEVEL": "INFO"}  # the workers' log lines name them
    proc = subprocess.run(
        [sys.executable, *cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # vLLM logs to stdout, the pipeline to stderr
        text=True,
        env=env,
        cwd=REPO,
        timeout=900,
    )
    log = proc.stdout
    first_error = log.find("Traceback")  # a worker's own error comes first, the rank's after
    assert proc.returncode == 0, log[max(first_error, 0) :][:6000]
    assert "1 CPU rank(s)" in log and "tensor_parallel_size 2 per rank" in log
    assert "tensor_parallel_size=2" in log  # the engine's own config line
    assert "(Worker_TP0" in log and "(Worker_TP1" in log
    records = read_jsonl(out)
    assert [r["__key"] for r in records] == input_keys(inp)  # each key once, in order
    assert {r["status"] for r in records} == {"ok"}
    counts = processor_counts(load_config(data=raw))
    assert all(r["tokens"]["prompt"] == counts[r["__key"]][0] for r in records)
