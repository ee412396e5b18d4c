"""Session fixtures: the tiny Qwen2.5-VL (built once) and generated videos."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from video_pipeline.fixtures.tiny_model import build_tiny_model
from video_pipeline.fixtures.videos import make_video_set, write_input_jsonl

# The engine runs in-process on CPU (seconds to start instead of a minute).
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = os.environ.get("VP_TEST_MODEL_DIR")
    out = Path(cache) if cache else tmp_path_factory.mktemp("model") / "tiny-qwen2.5-vl"
    return build_tiny_model(out)


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("videos")
    make_video_set(d, 8, seconds=2.0, fps=8, width=64, height=48)
    return d


@pytest.fixture
def input_jsonl(tmp_path: Path, video_dir: Path) -> Path:
    """Eight rows, one per generated video."""
    return write_input_jsonl(tmp_path / "input.jsonl", sorted(video_dir.glob("*.mp4")))
