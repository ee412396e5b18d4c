"""The built-in families: Qwen2-VL, Qwen2.5-VL, Qwen3-VL and Qwen3-VL-MoE.

What each one means for a request, as vLLM 0.32 processes it:

- Qwen2-VL, Qwen2.5-VL: patch 14, pixel factor 28. A video's placeholder becomes one
  `<|video_pad|>` per merged patch. vLLM needs video metadata for Qwen2.5-VL and drops
  it for Qwen2-VL; both get (frames, metadata) pairs.
- Qwen3-VL (dense and MoE, which share vLLM's multimodal processor): patch 16, pixel
  factor 32. vLLM needs video metadata, and expands the placeholder per temporal
  group of frames into `<t seconds>` text, `<|vision_start|>`, the group's pads and
  `<|vision_end|>` (the template's own start/end tokens stay around it all).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from video_pipeline.models.profile import ModelProfile, ProcessorBounds, TextCounter


@dataclass(frozen=True)
class Qwen3VLProfile(ModelProfile):
    """Qwen3-VL's layout: each temporal group of frames is preceded by its timestamp."""

    timestamp_format: str = "<{:.1f} seconds>"
    tokens_around_group: int = 2  # <|vision_start|> and <|vision_end|> of each group

    def timestamps(self, indices: list[int], fps: float) -> list[float]:
        """Mid-time of each temporal group, computed exactly as vLLM does (same float
        operations in the same order, so the rounded text is the same)."""
        m = self.temporal_patch_size
        if len(indices) % m:
            indices = indices + [indices[-1]] * (m - len(indices) % m)
        seconds = [idx / fps for idx in indices]
        return [(seconds[i] + seconds[i + m - 1]) / 2 for i in range(0, len(seconds), m)]

    def video_tokens(
        self,
        shape: tuple[int, ...],
        metadata: Mapping[str, Any] | None,
        count_text: TextCounter,
    ) -> int:
        t, _c, h, w = shape
        grid_t, per_group = self.grid(t, h, w)
        stamps = self.timestamps(*self.sampled_indices(metadata))[:grid_t]
        text = sum(count_text(self.timestamp_format.format(s)) for s in stamps)
        return text + grid_t * (self.tokens_around_group + per_group)

    def processor_frame_size(
        self, t: int, h: int, w: int, bounds: ProcessorBounds
    ) -> tuple[int, int]:
        """Qwen3-VL's video processor bounds T*H*W, not H*W alone."""
        from transformers.models.qwen3_vl.video_processing_qwen3_vl import smart_resize

        max_pixels = bounds.max_pixels
        if bounds.cap_pixels_per_frame and bounds.max_video_tokens:
            frame_cap = bounds.max_video_tokens * self.pixel_unit
            per_frame = max(min(frame_cap, max_pixels // t), int(bounds.min_pixels * 1.05))
            max_pixels = per_frame * t
        return smart_resize(
            num_frames=t,
            height=h,
            width=w,
            temporal_factor=self.temporal_patch_size,
            factor=self.pixel_factor,
            min_pixels=bounds.min_pixels,
            max_pixels=max_pixels,
        )


QWEN2_VL = ModelProfile(
    name="qwen2_vl",
    label="Qwen2-VL",
    architectures=("Qwen2VLForConditionalGeneration",),
    model_types=("qwen2_vl",),
    patch_size=14,
)

QWEN2_5_VL = ModelProfile(
    name="qwen2_5_vl",
    label="Qwen2.5-VL",
    architectures=("Qwen2_5_VLForConditionalGeneration",),
    model_types=("qwen2_5_vl",),
    patch_size=14,
)

QWEN3_VL = Qwen3VLProfile(
    name="qwen3_vl",
    label="Qwen3-VL",
    architectures=("Qwen3VLForConditionalGeneration",),
    model_types=("qwen3_vl",),
    patch_size=16,
)

QWEN3_VL_MOE = Qwen3VLProfile(
    name="qwen3_vl_moe",
    label="Qwen3-VL-MoE",
    architectures=("Qwen3VLMoeForConditionalGeneration",),
    model_types=("qwen3_vl_moe",),
    patch_size=16,
)

BUILTIN = (QWEN2_VL, QWEN2_5_VL, QWEN3_VL, QWEN3_VL_MOE)
