"""Shared helpers for tests: configs for the tiny model, CLI runs, record checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def demo_config(
    model: Path, input_jsonl: Path, output_jsonl: Path, task: str = "describe", **sections: Any
) -> dict[str, Any]:
    """A config that runs fast on 2 CPU cores with the tiny model."""
    cfg: dict[str, Any] = {
        "data": {
            "input_jsonl": str(input_jsonl),
            "output_jsonl": str(output_jsonl),
            "num_workers": 1,
        },
        "vision": {"total_pixels": 50176, "min_pixels": 3136, "fps": 2},
        "vllm": {
            "model": str(model),
            "dtype": "bfloat16",
            "max_model_len": 4096,
            "enforce_eager": True,
            "limit_mm_per_prompt": {"video": 1, "image": 0},
        },
        "sampling": {"temperature": 0.7, "max_tokens": 8, "seed": 0},
        "run": {"task": task, "log_every": 5, "fsync_every": 1},
        "task_params": {},
    }
    for name, values in sections.items():
        if name == "task_params":
            cfg["task_params"] = values
        else:
            cfg.setdefault(name, {}).update(values)
    return cfg


def write_config(path: Path, cfg: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    return env


def run_cli(module: str, *args: str, timeout: float = 600, check: bool = True):
    """Run `python -m module args...`; returns the CompletedProcess (output captured)."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(),
        cwd=REPO,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{module} {' '.join(args)} exited {proc.returncode}\n"
            f"--- stderr (tail) ---\n{proc.stderr[-6000:]}"
        )
    return proc


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def input_keys(path: Path, field: str = "path") -> list[str]:
    return [json.loads(line)[field] for line in path.read_text().splitlines() if line.strip()]
