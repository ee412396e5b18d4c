"""GLM-4.1V (`Glm4vForConditionalGeneration`, vLLM's glm4_1v.py).

Qwen2-VL's geometry (patch 14, spatial merge 2, temporal patch 2: pixel factor 28) with
its own layout: vLLM replaces the template's `<|begin_of_video|><|video|><|end_of_video|>`
by the start and end tokens around, per temporal group of frames,
`<|begin_of_image|>`, the group's tokens, `<|end_of_image|>` and the group's whole
second as text (`int(frame index / fps)` of its first frame). vLLM needs the video's
metadata, and `do_sample_frames: False` in it (else it samples the frames again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from video_pipeline.models.profile import ModelProfile, ProcessorBounds, TextCounter


@dataclass(frozen=True)
class Glm4vProfile(ModelProfile):
    tokens_around_group: int = 2  # <|begin_of_image|> and <|end_of_image|>

    def video_item(self, frames: Any, metadata: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        return frames, {**metadata, "do_sample_frames": False}

    @staticmethod
    def timestamps(indices: list[int], fps: float) -> list[int]:
        """The seconds vLLM writes, one per temporal group (its own arithmetic: unique
        indices, padded to even, the whole second of every other one)."""
        unique = list(dict.fromkeys(indices))
        if len(unique) % 2:
            unique.append(unique[-1])
        return [int(idx / fps) for idx in unique][::2]

    def video_tokens(
        self,
        shape: tuple[int, ...],
        metadata: Mapping[str, Any] | None,
        count_text: TextCounter,
    ) -> int:
        t, _c, h, w = shape
        _grid_t, per_group = self.grid(t, h, w)
        stamps = self.timestamps(*self.sampled_indices(metadata))
        text = sum(count_text(str(s)) for s in stamps)
        return text + len(stamps) * (self.tokens_around_group + per_group)

    def processor_frame_size(
        self, t: int, h: int, w: int, bounds: ProcessorBounds
    ) -> tuple[int, int]:
        """GLM-4.1V's video processor bounds T*H*W, as Qwen3-VL's does."""
        from transformers.models.glm4v.video_processing_glm4v import smart_resize

        return smart_resize(
            num_frames=t,
            height=h,
            width=w,
            temporal_factor=self.temporal_patch_size,
            factor=self.pixel_factor,
            min_pixels=bounds.min_pixels,
            max_pixels=bounds.max_pixels,
        )


GLM4V = Glm4vProfile(
    name="glm4v",
    label="GLM-4.1V",
    architectures=("Glm4vForConditionalGeneration",),
    model_types=("glm4v",),
    patch_size=14,
)
