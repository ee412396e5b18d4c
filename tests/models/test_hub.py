"""A hub model id where the hub cannot be reached fails at once, naming vllm.model,
instead of after a minute of retries in every rank."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from huggingface_hub import constants

from tests.helpers import demo_config, run_cli, write_config
from video_pipeline.models import hub

MISSING = "nobody-here/no-such-model"
CLOSED = "http://127.0.0.1:9"  # nothing listens there: refused at once


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    return cache


def _cache_model(cache: Path, model: str) -> None:
    repo = cache / f"models--{model.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    snap = repo / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")


def test_offline_and_not_cached_names_the_key(empty_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    problem = hub.hub_problem(MISSING)
    assert problem is not None
    assert problem.startswith(f"vllm.model: '{MISSING}' is a hub id")
    assert "HF_HUB_OFFLINE is set" in problem and "model directory" in problem


def test_unreachable_hub_and_not_cached_names_the_key(empty_cache, monkeypatch):
    monkeypatch.setattr(constants, "ENDPOINT", CLOSED)
    problem = hub.hub_problem(MISSING)
    assert problem is not None and problem.startswith("vllm.model: ")
    assert f"the hub ({CLOSED}) cannot be reached" in problem


def test_unreachable_hub_with_a_cached_model_runs_offline(empty_cache, monkeypatch):
    monkeypatch.setattr(constants, "ENDPOINT", CLOSED)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "")  # restored after the test
    _cache_model(empty_cache, "org/cached")
    assert hub.hub_problem("org/cached") is None
    assert hub.offline()  # the ranks inherit HF_HUB_OFFLINE=1: no retries there


def test_a_model_folder_is_never_looked_up(tmp_path):
    assert hub.hub_problem(str(tmp_path)) is None


def test_launch_fails_at_once_naming_vllm_model(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"path": "a.mp4"}\n')
    cfg = write_config(tmp_path / "c.yaml", demo_config(Path(MISSING), inp, tmp_path / "o.jsonl"))
    cfg.write_text(cfg.read_text().replace(str(Path(MISSING)), MISSING))
    t0 = time.monotonic()
    proc = run_cli("video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "1", check=False)
    took = time.monotonic() - t0
    assert proc.returncode != 0
    assert f"vllm.model: '{MISSING}' is a hub id" in proc.stderr, proc.stderr[-2000:]
    assert took < 30  # transformers alone retries the hub for 35 s and more here
