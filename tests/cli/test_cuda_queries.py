"""No start-up path asks torch about CUDA in a way that breaks vLLM's fork.

`torch.cuda.is_available()` without PYTORCH_NVML_BASED_CUDA_CHECK=1 initialises the CUDA
driver; vLLM then still forks its EngineCore, which fails on a GPU ("Cannot
re-initialize CUDA in forked subprocess"). Here bench, launch and the ranks run for real
up to their first import of vllm (tests/hooks/sitecustomize.py records every CUDA query
and ends each process there), on a machine with or without GPUs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import cli_env, demo_config, write_config
from tests.robustness.procs import HOOKS

pytestmark = pytest.mark.e2e  # real bench, launch and torchrun processes


def _run(module: str, args: list[str], record, **env: str | None) -> None:
    full = cli_env()
    full["PYTHONPATH"] = os.pathsep.join([str(HOOKS), full["PYTHONPATH"]])
    full["VP_RECORD_CUDA"] = str(record)
    full.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)  # as a fresh shell has it
    for k, v in env.items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v
    cmd = [sys.executable, "-m", module, *args]
    proc = subprocess.run(cmd, env=full, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _records(record) -> tuple[list[dict], list[dict]]:
    lines = [json.loads(x) for p in record.glob("*.jsonl") for x in p.read_text().splitlines()]
    return [r for r in lines if "call" in r], [r for r in lines if "vllm_from" in r]


def test_start_up_queries_cuda_only_through_nvml(tmp_path, tiny_model, input_jsonl):
    raw = demo_config(tiny_model, input_jsonl, tmp_path / "out" / "o.jsonl")
    cfg = str(write_config(tmp_path / "c.yaml", raw))
    runs = {
        "bench": ("video_pipeline.cli.bench", ["--config", cfg, "--n", "2"], {}),
        # no ids given or visible: launch counts the GPUs, then runs a CPU rank
        "launch": ("video_pipeline.cli.launch", ["--config", cfg], {"CUDA_VISIBLE_DEVICES": None}),
        "gpu rank": ("video_pipeline.cli.launch", ["--config", cfg, "--gpus", "0"], {}),
    }
    for name, (module, args, env) in runs.items():
        record = tmp_path / name.replace(" ", "_")
        record.mkdir()
        _run(module, args, record, **env)
        calls, imports = _records(record)
        assert calls, f"{name}: no CUDA query recorded (is the hook loaded?)"
        bad = [c for c in calls if not c["nvml"] or c["call"] == "_lazy_init"]
        assert not bad, f"{name}: CUDA queried without the NVML check: {bad}"
        # Each run got as far as its engine: one process imported vllm (bench, or the
        # rank: launch itself never does), from the code that builds the engine's inputs.
        (first,) = imports
        assert ("bench.py:measure" if name == "bench" else "rank.py:run_tasks") in first[
            "vllm_from"
        ], first
