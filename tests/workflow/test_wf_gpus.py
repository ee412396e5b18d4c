"""GPU claims: jobs side by side never hold the same id; SLURM's ids are used as given."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import cli_env
from video_pipeline.workflow.gpus import GpuClaimError, claim, job_devices

CLAIMER = """
import json, sys, time
from video_pipeline.workflow.gpus import claim
pool, n, lock_dir, hold, out = sys.argv[1:]
with claim(pool.split(","), int(n), lock_dir, poll_s=0.02) as ids:
    t0 = time.time()
    time.sleep(float(hold))
    t1 = time.time()
with open(out, "w") as f:
    json.dump({"ids": ids, "start": t0, "end": t1}, f)
"""


def _spawn(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CLAIMER, *args], env=cli_env())


def test_concurrent_processes_never_share_an_id(tmp_path: Path) -> None:
    pool, n_procs = "0,1,2,3", 8
    procs = [
        _spawn([pool, str(1 + i % 2), str(tmp_path / "locks"), "0.4", str(tmp_path / f"{i}.json")])
        for i in range(n_procs)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    claims = [json.loads((tmp_path / f"{i}.json").read_text()) for i in range(n_procs)]
    overlapping = 0
    for i, a in enumerate(claims):
        assert len(a["ids"]) == 1 + i % 2 and set(a["ids"]) <= {"0", "1", "2", "3"}
        for b in claims[i + 1 :]:
            if a["start"] < b["end"] and b["start"] < a["end"]:
                overlapping += 1
                assert not set(a["ids"]) & set(b["ids"]), (a, b)
    assert overlapping >= 2  # they did run side by side


def test_a_killed_holder_releases_its_ids(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    holder = _spawn(["0,1", "2", str(locks), "600", str(tmp_path / "never.json")])
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            files = list(locks.glob("gpu-*.lock"))
            if len(files) == 2 and all(f.read_text() for f in files):
                break
            time.sleep(0.05)
        busy = claim(["0", "1"], 1, locks, timeout_s=0.3, poll_s=0.05)
        with pytest.raises(GpuClaimError, match="could not claim 1 of GPUs 0,1"), busy:
            pass
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        with claim(["0", "1"], 2, locks, timeout_s=5) as ids:
            assert ids == ["0", "1"]
    finally:
        holder.kill()


def test_pool_smaller_than_request_fails_at_once(tmp_path: Path) -> None:
    with pytest.raises(GpuClaimError, match="needs 3 GPU"), claim(["0", "1"], 3, tmp_path):
        pass


def test_slurm_ids_are_used_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    with job_devices(2, 1, "auto", ["0", "1"], tmp_path / "locks") as dev:
        assert (dev.gpu_ids, dev.source, dev.ranks, dev.cpu) == (["3", "5"], "slurm", 2, False)
    assert not (tmp_path / "locks").exists()
    # snakemake inside one allocation: SLURM's ids become the pool the jobs claim from
    with (
        job_devices(1, 1, "cpu", None, tmp_path / "locks") as a,
        job_devices(1, 1, "cpu", None, tmp_path / "locks") as b,
    ):
        assert {*a.gpu_ids, *b.gpu_ids} == {"3", "5"} and a.source == "claimed"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    none_given = job_devices(1, 1, "auto", None, tmp_path / "locks")
    with pytest.raises(GpuClaimError, match="SLURM gave this job no GPU"), none_given:
        pass


def test_cpu_ranks_claim_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    with job_devices(0, 2, "auto", None, tmp_path / "locks") as dev:
        assert (dev.gpu_ids, dev.ranks, dev.cpu, dev.source) == ([], 2, True, "none")
    with job_devices(1, 1, "cpu", ["7"], tmp_path / "locks") as dev:
        assert (dev.gpu_ids, dev.ranks, dev.cpu, dev.source) == (["7"], 1, True, "claimed")
