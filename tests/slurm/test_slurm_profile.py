"""The SLURM profile against a real single-node SLURM (tools/slurm/up.sh, 2 fake GPUs).

Jobs go through sbatch via Snakemake's official executor plugin; each infer job must
use the GPU ids SLURM assigned, and a job killed mid-run must resume on the rerun.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import REPO, cli_env, read_jsonl
from tests.workflow.smk import snakemake_cmd, write_yaml
from video_pipeline.fixtures.videos import make_video_set, write_input_jsonl

pytestmark = [pytest.mark.slurm, pytest.mark.e2e]

SLURM_ARGS = [
    "--profile",
    str(REPO / "profiles" / "slurm"),
    "--jobs",
    "2",
    "--retries",
    "0",
    "--default-resources",
    "slurm_partition=debug",
    "runtime=30",
    "mem_mb=1500",
    "cpus_per_task=1",
    "--set-resources",
    "infer:mem_mb=5000",
    "infer:cpus_per_task=1",
    "infer:runtime=30",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "1",
]


def _slurm_up() -> None:
    if shutil.which("sinfo") and subprocess.run(["sinfo"], capture_output=True).returncode == 0:
        return
    if os.geteuid() != 0:
        pytest.skip("no SLURM cluster reachable and not root to start one (tools/slurm/up.sh)")
    subprocess.run([str(REPO / "tools" / "slurm" / "up.sh")], check=True, timeout=600)


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory, tiny_model):
    _slurm_up()
    work = tmp_path_factory.mktemp("slurm")
    videos = make_video_set(work / "videos", 8, seconds=2.0, fps=8)
    inp = write_input_jsonl(work / "input.jsonl", videos)
    cfg = write_yaml(
        work / "run.yaml",
        {
            "input": str(inp),
            "outdir": str(work / "out"),
            "tasks": [{"name": "describe"}],
            "num_shards": 2,
            "gpus_per_job": 1,  # one SLURM GPU per infer job
            "device": "cpu",  # fake GPUs: the ranks compute on CPU with SLURM's ids
            "report": False,  # the report rule has its own test (tests/workflow)
            "vllm": {"model": str(tiny_model)},
            "sampling": {"max_tokens": 48},
            # One request at a time, each engine step 50 ms longer (tests/robustness/faults):
            # the jobs run long enough for the kill to land mid-run.
            "run": {"max_in_flight": 1, "fsync_every": 1, "plugins": ["tests.robustness.faults"]},
        },
    )
    env = cli_env()
    env.pop("CUDA_VISIBLE_DEVICES", None)
    env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    env["VLLM_CPU_KVCACHE_SPACE"] = "1"
    env["VP_FAULT_STEP_SLEEP"] = "0.05"
    return work, cfg, env


def _journal_keys(out: Path) -> list[str]:
    return [
        r["__key"]
        for p in sorted(out.glob("work/describe/*/describe.rank*.jsonl"))
        for r in read_jsonl(p)
    ]


def test_slurm_run_killed_job_resumes_and_uses_slurm_gpus(slurm_run):
    work, cfg, env = slurm_run
    out = work / "out"
    cmd = snakemake_cmd(work, [cfg], *SLURM_ARGS)
    first = subprocess.Popen(
        cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    # Kill the infer jobs through SLURM once they have journaled something.
    t0 = time.time()
    while time.time() - t0 < 400 and len(_journal_keys(out)) < 1:
        assert first.poll() is None, first.stdout.read()[-5000:]
        time.sleep(0.5)
    done_before = len(_journal_keys(out))
    assert done_before >= 1, "no infer job journaled anything under SLURM"
    subprocess.run(
        ["scancel", "--signal=KILL", "--full", "--user", os.environ.get("USER", "root")],
        check=False,
    )
    subprocess.run(["scancel", "--user", os.environ.get("USER", "root")], check=False)
    log1 = first.communicate(timeout=600)[0]
    assert first.returncode != 0, "the killed jobs must fail the first run"
    killed_at = len(_journal_keys(out))
    assert killed_at < 8, "the kill must land mid-run"

    second = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-8000:] + log1[-3000:]

    keys = _journal_keys(out)
    assert len(keys) == len(set(keys)) == 8, "lost or repeated work after the SLURM kill"
    results = read_jsonl(out / "results" / "describe.jsonl")
    errors = read_jsonl(out / "results" / "describe.errors.jsonl")
    videos = sorted(str(v) for v in (work / "videos").glob("*"))
    assert sorted(r["__key"] for r in results + errors) == videos
    # Each infer job used the GPU ids SLURM gave it (fake devices 0 and 1).
    seen = []
    for log in sorted(out.glob("logs/infer/describe/*.log")):
        m = re.findall(r"gpu_ids=(\S+) source=slurm", log.read_text())
        assert m, f"{log.name}: no SLURM GPU ids logged"
        seen += m
    assert set(seen) <= {"0", "1"}
    stats = json.loads((out / "results" / "describe.stats.json").read_text())
    assert stats["ok"] + stats["failed"] == 8
