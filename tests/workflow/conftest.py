"""Fixtures of the workflow's tests."""

from __future__ import annotations

import os

import pytest

from tests.helpers import cli_env


@pytest.fixture(scope="session")
def sm_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of the Snakemake runs.

    The SLURM executor plugin runs `scontrol show config` when Snakemake starts; on a
    machine with SLURM's tools but no reachable controller that waits ~10 s per run.
    These tests run locally, so a stub `scontrol` that fails at once stands in for it.
    """
    bin_dir = tmp_path_factory.mktemp("bin")
    stub = bin_dir / "scontrol"
    stub.write_text("#!/bin/sh\nexit 1\n")
    stub.chmod(0o755)
    env = cli_env()
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    for var in ("SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES"):
        env.pop(var, None)
    return env
