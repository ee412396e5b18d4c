"""Fixes for vLLM model code that a supported family needs.

They patch vLLM's classes. `apply_fixes` does so in the rank's process before the
engine is built, which reaches an engine running there (the CPU default). vLLM's own
processes (an engine core of its own, as on GPUs; tensor-parallel workers) are spawned
and get them from the `vllm.general_plugins` entry point `register` (pyproject.toml),
which vLLM loads in each of its processes once the project is installed
(`pip install -e .`). Without it, `problems` stops such a run before the model loads.

- LLaVA-OneVision (vLLM 0.32): videos of different frame counts encoded in one step
  come back as (1, n, d) embeddings, and vLLM's own check then stops the engine
  ("Expected multimodal embeddings to be a sequence of 2D tensors"). Videos of equal
  lengths come back as (n, d) each; the fix gives the others the same shape.
"""

from __future__ import annotations

from typing import Any


def fix_llava_onevision_video_batches() -> None:
    from vllm.model_executor.models import llava_onevision

    cls = llava_onevision.LlavaOnevisionForConditionalGeneration
    original = cls._process_video_pixels
    if getattr(original, "fixed_2d", False):
        return

    def process_video_pixels(self: Any, inputs: Any) -> Any:
        out = original(self, inputs)
        if isinstance(out, list):
            return [e.squeeze(0) if e.ndim == 3 else e for e in out]
        return out

    process_video_pixels.fixed_2d = True  # type: ignore[attr-defined]
    cls._process_video_pixels = process_video_pixels


FIXES = {"llava_onevision": fix_llava_onevision_video_batches}
PLUGIN = "video_pipeline_fixes"  # the entry point's name in pyproject.toml


def register() -> None:
    """vLLM's plugin hook, run in each of its processes: every fix (each one changes
    only outputs vLLM would refuse)."""
    for fix in FIXES.values():
        fix()


def plugin_installed() -> bool:
    from importlib.metadata import entry_points

    return any(e.name == PLUGIN for e in entry_points(group="vllm.general_plugins"))


def apply_fixes(model: str) -> None:
    """The fixes the family of `model` needs (none for most)."""
    from video_pipeline.models import UnsupportedModelError, resolve_profile

    try:
        family = resolve_profile(model).name
    except UnsupportedModelError:
        return  # the start-up checks name it; the engine alone cannot need a fix
    fix = FIXES.get(family)
    if fix is not None:
        fix()


def problems(family: str, tensor_parallel_size: int, engine_in_process: bool) -> list[str]:
    """Settings under which the family's fix would not reach vLLM's processes."""
    if family not in FIXES or plugin_installed():
        return []
    if tensor_parallel_size > 1 or not engine_in_process:
        where = (
            f"vllm.tensor_parallel_size: {tensor_parallel_size} starts workers"
            if tensor_parallel_size > 1
            else "VLLM_ENABLE_V1_MULTIPROCESSING: the engine core runs"
        )
        return [
            f"{where} in processes of vLLM's own, which need the project's fix for "
            f"{family} (vLLM 0.32 stops its engine on videos of different frame counts "
            "encoded together): install the project (`pip install -e .`) so that vLLM "
            "loads it as a plugin there, or run with tensor_parallel_size 1 and "
            "VLLM_ENABLE_V1_MULTIPROCESSING=0"
        ]
    return []
