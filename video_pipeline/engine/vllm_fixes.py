"""Fixes for vLLM model code that a supported family needs, applied before the engine
is built (in this process; an engine core forked from it inherits them).

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
