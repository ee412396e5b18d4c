"""InternVL3.5 in the transformers format (`InternVLForConditionalGeneration`, the
`-HF` checkpoints), which vLLM 0.32 runs with `InternS1ForConditionalGeneration`
(interns1.py). The original format (`InternVLChatModel`) needs the hub's remote code.

Its video processor resizes every frame to one square side (448 published) and the
tower's pixel shuffle keeps `image_seq_length` tokens per frame (256 published). vLLM
expands the template's one `<video>` into text, one line per frame:
`Frame1: <img><IMG_CONTEXT>*n</img>\\nFrame2: ...`, so a frame costs n + 2 tokens plus
its `FrameK: ` label. No timestamps: vLLM drops the metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from video_pipeline.models.profile import ModelProfile, TextCounter

START, END = "<img>", "</img>"  # the tokenizer's start_image_token and end_image_token


def _side(value: Any) -> int | None:
    """An int, or the first of a [height, width] pair (InternVL's vision config)."""
    if isinstance(value, (list, tuple)) and value:
        value = value[0]
    return value if isinstance(value, int) and value > 0 else None


@dataclass(frozen=True)
class InternVLProfile(ModelProfile):
    frame_side: int = 448  # vision_config.image_size
    frame_tokens: int = 256  # config.image_seq_length: <IMG_CONTEXT> tokens per frame

    def with_config(self, config: Mapping[str, Any]) -> ModelProfile:
        vision = config.get("vision_config") or {}
        patch = _side(vision.get("patch_size")) or self.patch_size
        side = _side(vision.get("image_size")) or self.frame_side
        ratio = config.get("downsample_ratio") or 0.5
        seq = config.get("image_seq_length")
        if not isinstance(seq, int) or seq < 1:
            seq = int((side // patch) ** 2 * ratio**2)
        return replace(self, patch_size=patch, frame_side=side, frame_tokens=seq)

    def video_tokens(
        self,
        shape: tuple[int, ...],
        metadata: Mapping[str, Any] | None,
        count_text: TextCounter,
    ) -> int:
        # The special tokens split the text, so each frame's label counts on its own.
        labels = sum(
            count_text(f"{chr(10) if i else ''}Frame{i + 1}: {START}") for i in range(shape[0])
        )
        return labels + shape[0] * (self.frame_tokens + count_text(END))

    counts_images = False  # tiled images: the engine counts them


INTERNVL = InternVLProfile(
    name="internvl",
    label="InternVL3.5",
    architectures=("InternVLForConditionalGeneration",),
    model_types=("internvl",),
    patch_size=14,
    mm_processor_kwargs={},  # the processor resizes each frame to frame_side
    recommended_units={"max_pixels": 256, "min_pixels": 16},  # 448x448: the frame
)
