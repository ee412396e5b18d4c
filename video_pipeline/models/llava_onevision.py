"""LLaVA-OneVision (`LlavaOnevisionForConditionalGeneration`, vLLM's llava_onevision.py).

Its video processor resizes every frame to one square side (384 in the published
checkpoints) and its SigLIP tower sees (side / patch)^2 patches, pooled 2x2: a frame is
196 tokens at 384 and patch 14, whatever size it was decoded at. The chat template
writes one `<video>` per video, which vLLM expands to frames x tokens per frame + one
newline token. No timestamps: vLLM drops the metadata. Frames are sent as decoded
(uint8 or float, qwen_vl_utils' size) and the processor resizes them itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from video_pipeline.models.profile import ModelProfile, TextCounter


@dataclass(frozen=True)
class LlavaOnevisionProfile(ModelProfile):
    frame_side: int = 384  # vision_config.image_size: every frame is resized to it
    pool_stride: int = 2  # config.spatial_pool_stride

    def with_config(self, config: Mapping[str, Any]) -> ModelProfile:
        vision = config.get("vision_config") or {}
        sizes = {
            "patch_size": vision.get("patch_size"),
            "frame_side": vision.get("image_size"),
            "pool_stride": config.get("spatial_pool_stride"),
        }
        given = {k: v for k, v in sizes.items() if isinstance(v, int) and v > 0}
        return replace(self, **given) if given else self

    @property
    def frame_tokens(self) -> int:
        """Tokens of one frame: the patch grid pooled by `pool_stride` (vLLM's count)."""
        return math.ceil(self.frame_side // self.patch_size / self.pool_stride) ** 2

    def video_tokens(
        self,
        shape: tuple[int, ...],
        metadata: Mapping[str, Any] | None,
        count_text: TextCounter,
    ) -> int:
        return shape[0] * self.frame_tokens + 1  # one newline token after the frames

    counts_images = False  # tiled images: the engine counts them


LLAVA_ONEVISION = LlavaOnevisionProfile(
    name="llava_onevision",
    label="LLaVA-OneVision",
    architectures=("LlavaOnevisionForConditionalGeneration",),
    model_types=("llava_onevision",),
    patch_size=14,
    mm_processor_kwargs={},  # the processor resizes each frame to frame_side
    recommended_units={"max_pixels": 196, "min_pixels": 16},  # 392x392: the 384 frame
)
