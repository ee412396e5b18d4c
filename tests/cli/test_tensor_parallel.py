"""Tensor parallel: N GPUs make N/T ranks, each pinned to its own T GPUs (or cores)."""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers import demo_config, run_cli, write_config
from video_pipeline.config import ConfigError
from video_pipeline.devices import DeviceError, gpu_groups, rank_env
from video_pipeline.runner.threads import pin_rank
from video_pipeline.workflow.gpus import GpuClaimError, job_devices
from video_pipeline.workflow.settings import load_workflow

RECORDER = "tests.cli.record_devices"


pytestmark = pytest.mark.usefixtures("environ_restored")


def test_gpus_split_into_consecutive_groups_of_t():
    ids = [str(i) for i in range(8)]
    assert gpu_groups(ids, 4) == [["0", "1", "2", "3"], ["4", "5", "6", "7"]]
    assert gpu_groups(ids, 1) == [[i] for i in ids]
    with pytest.raises(DeviceError, match="do not split into engines"):
        gpu_groups(ids[:6], 4)


def test_each_rank_sees_only_its_group(monkeypatch):
    env = rank_env([["0", "1", "2", "3"], ["4", "5", "6", "7"]], 2)
    assert env == {"VP_GPUS": "0,1,2,3|4,5,6,7"}
    for rank, expected in enumerate(["0,1,2,3", "4,5,6,7"]):
        monkeypatch.setenv("VP_GPUS", env["VP_GPUS"])
        monkeypatch.delenv("VP_CPU_BIND", raising=False)
        pin_rank(rank, workers=1, tp=4)
        assert os.environ["CUDA_VISIBLE_DEVICES"] == expected


def test_a_cpu_rank_splits_its_engine_cores_between_its_workers(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(8)))
    assert rank_env(None, 2)["VP_CPU_BIND"] == "0,2,4,6|1,3,5,7"

    def pinned(bind: str, local_rank: int, workers: int, tp: int) -> tuple[str, str]:
        for name in ("VLLM_CPU_OMP_THREADS_BIND", "VP_GPUS", "VP_DECODE_CORES"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("VP_CPU_BIND", bind)
        pin_rank(local_rank, workers, tp)
        return os.environ["VLLM_CPU_OMP_THREADS_BIND"], os.environ["VP_DECODE_CORES"]

    # vLLM's format: one core list per tensor-parallel worker, joined by '|'.
    assert pinned("0,2,4,6|1,3,5,7", 1, 1, 2) == ("1|3,5", "7")
    assert pinned("0,1,2,3,4,5,6,7", 0, 2, 2) == ("0,1,2|3,4,5", "6,7")
    assert pinned("0,1,2,3", 0, 1, 1) == ("0,1,2", "3")  # tp 1: as before
    assert pinned("0,1", 0, 1, 2) == ("0|1", "0,1")  # no core to spare: shared
    assert pinned("0", 0, 1, 2) == ("0|0", "0")


def _recording_config(tmp_path, model, inp, tp):
    raw = demo_config(model, inp, tmp_path / "out" / "o.jsonl", vllm={"tensor_parallel_size": tp})
    raw["run"]["plugins"] = [RECORDER]
    return write_config(tmp_path / "c.yaml", raw)


def test_launch_groups_gpus_by_tensor_parallel_size(tmp_path, tiny_model, input_jsonl):
    """Real torchrun, real ranks, no engine: each rank records what it was pinned to."""
    record = tmp_path / "devices"
    record.mkdir()
    cfg = _recording_config(tmp_path, tiny_model, input_jsonl, tp=2)
    os.environ["VP_RECORD_DEVICES"] = str(record)
    try:
        proc = run_cli("video_pipeline.cli.launch", "--config", str(cfg), "--gpus", "0,1,2,3")
    finally:
        del os.environ["VP_RECORD_DEVICES"]
    assert "2 rank(s) on GPUs 0,1 | 2,3, tensor_parallel_size 2 per rank" in proc.stderr
    seen = {int(p.stem[4:]): json.loads(p.read_text()) for p in record.glob("rank*.json")}
    assert {r: s["CUDA_VISIBLE_DEVICES"] for r, s in seen.items()} == {0: "0,1", 1: "2,3"}
    assert {s["WORLD_SIZE"] for s in seen.values()} == {"2"}
    bad = run_cli("video_pipeline.cli.launch", "--config", str(cfg), "--gpus", "0,1,2", check=False)
    assert bad.returncode == 2
    assert "do not split into engines of vllm.tensor_parallel_size=2" in bad.stderr
    for p in record.glob("rank*.json"):
        p.unlink()
    os.environ["VP_RECORD_DEVICES"] = str(record)
    try:
        run_cli("video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "1")
    finally:
        del os.environ["VP_RECORD_DEVICES"]
    (cpu,) = [json.loads(p.read_text()) for p in record.glob("rank*.json")]
    assert cpu["CUDA_VISIBLE_DEVICES"] == ""
    assert len(cpu["VLLM_CPU_OMP_THREADS_BIND"].split("|")) == 2  # one list per TP worker


def _workflow(tmp_path, gpus_per_job, tp):
    return {
        "input": str(tmp_path / "in.jsonl"),
        "outdir": str(tmp_path / "out"),
        "tasks": ["describe"],
        "gpus_per_job": gpus_per_job,
        "vllm": {"model": "Qwen/Qwen2.5-VL-72B-Instruct", "tensor_parallel_size": tp},
    }


def test_workflow_jobs_hold_a_multiple_of_t_gpus(tmp_path):
    assert load_workflow(_workflow(tmp_path, 8, 4)).settings.gpus_per_job == 8
    assert load_workflow(_workflow(tmp_path, 0, 2))  # CPU ranks: any count
    with pytest.raises(ConfigError) as err:
        load_workflow(_workflow(tmp_path, 6, 4))
    assert "gpus_per_job (6) must be a multiple of vllm.tensor_parallel_size (4)" in str(err.value)


def test_a_job_runs_gpus_per_job_over_t_ranks(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    locks = tmp_path / "locks"
    pool = [str(i) for i in range(8)]
    with job_devices(8, 1, "auto", pool, locks, tensor_parallel_size=4) as dev:
        assert (len(dev.gpu_ids), dev.ranks) == (8, 2)
    monkeypatch.setenv("SLURM_JOB_ID", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    with job_devices(4, 1, "auto", None, locks, tensor_parallel_size=2) as dev:
        assert (dev.gpu_ids, dev.ranks, dev.source) == (["4", "5", "6", "7"], 2, "slurm")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6")
    with (
        pytest.raises(GpuClaimError, match=r"not a multiple of vllm\.tensor_parallel_size 2"),
        job_devices(4, 1, "auto", None, locks, tensor_parallel_size=2),
    ):
        pass
