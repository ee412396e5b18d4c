"""Session fixtures: the tiny models of each family (built once) and generated videos;
the order modules run in."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from video_pipeline.fixtures.tiny_model import DEFAULT_FAMILY, build_tiny_model
from video_pipeline.fixtures.videos import make_video_set, write_input_jsonl

# The engine runs in-process on CPU (seconds to start instead of a minute).
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

FOLDERS = {
    "qwen2_vl": "tiny-qwen2-vl",
    "qwen2_5_vl": "tiny-qwen2.5-vl",
    "qwen3_vl": "tiny-qwen3-vl",
    "qwen3_vl_moe": "tiny-qwen3-vl-moe",
    "llava_onevision": "tiny-llava-onevision",
    "glm4v": "tiny-glm4v",
    "internvl": "tiny-internvl3.5",
    "qwen2_5_omni": "tiny-qwen2.5-omni",
    "qwen3_omni_moe": "tiny-qwen3-omni-moe",
}


# The longest modules, longest first. `make test` runs modules on two workers, each taking
# the next module when it is free (pytest-xdist's loadfile): the long ones start first
# and the many short ones fill in at the end, so the workers finish together.
LONGEST = [
    "tests/workflow/test_wf_e2e.py",
    "tests/robustness/test_kill_e2e.py",
    "tests/benchmarks/test_smoke.py",
    "tests/e2e/test_launch.py",
    "tests/workflow/test_wf_families.py",
    "tests/models/test_families_e2e.py",
    "tests/models/test_omni_e2e.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> tuple[int, int]:
        path = item.nodeid.split("::", 1)[0]
        if path in LONGEST:
            return (0, LONGEST.index(path))
        return (1, 0) if item.get_closest_marker("e2e") else (2, 0)

    items.sort(key=rank)  # stable: a module's tests keep their order


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """`tiny_models(family)`: that family's tiny checkpoint, built on first use.

    `VP_TEST_MODEL_DIR` names a cached build of the default (Qwen2.5-VL) model,
    `VP_TEST_MODELS_DIR` a folder of cached builds of every family.
    """
    root = os.environ.get("VP_TEST_MODELS_DIR")
    folder = Path(root) if root else tmp_path_factory.mktemp("models")

    def build(family: str) -> Path:
        cache = os.environ.get("VP_TEST_MODEL_DIR")
        if family == DEFAULT_FAMILY and cache:
            return build_tiny_model(cache)
        return build_tiny_model(folder / FOLDERS[family], family=family)

    return build


@pytest.fixture(scope="session")
def tiny_model(tiny_models: Callable[[str], Path]) -> Path:
    return tiny_models(DEFAULT_FAMILY)


@pytest.fixture(scope="session")
def tiny_qwen3_vl(tiny_models: Callable[[str], Path]) -> Path:
    return tiny_models("qwen3_vl")


@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Whisper of the `transcribe` task, built once per session."""
    from video_pipeline.fixtures.tiny_whisper import build_tiny_whisper

    return build_tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny-whisper")


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("videos")
    make_video_set(d, 8, seconds=2.0, fps=8, width=64, height=48)
    return d


@pytest.fixture
def input_jsonl(tmp_path: Path, video_dir: Path) -> Path:
    """Eight rows, one per generated video."""
    return write_input_jsonl(tmp_path / "input.jsonl", sorted(video_dir.glob("*.mp4")))


@pytest.fixture
def environ_restored():
    """Pinning and device choice write the process's environment; later tests must not
    run pinned."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
