"""Fixtures of the robustness tests: the tiny model's processor, the bad-input suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.robustness.bad_inputs import write_suite


@pytest.fixture(scope="session")
def processor(tiny_model: Path):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_model)


@pytest.fixture(scope="session")
def bad_suite(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """(input JSONL, key -> "ok" or the error kind it must give)."""
    return write_suite(tmp_path_factory.mktemp("bad"))
