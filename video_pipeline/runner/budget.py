"""How many tokens a prompt will take, counted before it reaches the engine.

vLLM expands the single `<|video_pad|>` of a rendered Qwen2.5-VL prompt into one token
per merged patch: (T / temporal_patch) * (H / patch) * (W / patch) / merge^2 for a
decoded (T, C, H, W) video. Counting here lets an over-long prompt become an error
record of its own instead of an engine error, and lets `preflight` price a run without
loading the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from video_pipeline.errors import SampleError


@dataclass(frozen=True)
class Geometry:
    """Patch sizes and the resize the processor inside the engine applies to frames.

    Qwen2.5-VL's video processor resizes the frames qwen_vl_utils already resized, to
    its own pixel bounds (`size.shortest_edge` .. `size.longest_edge`, capped per frame
    by `max_video_tokens` when `cap_pixels_per_frame`): the count must follow it.
    """

    patch_size: int = 14
    merge_size: int = 2
    temporal_patch_size: int = 2
    resize: bool = False
    min_pixels: int = 0
    max_pixels: int = 0
    cap_pixels_per_frame: bool = False
    max_video_tokens: int = 0

    @classmethod
    def of(cls, processor: Any) -> Geometry:
        """Read from the processor's own config (Qwen2.5-VL's values are the defaults)."""
        sub = getattr(processor, "video_processor", None) or getattr(
            processor, "image_processor", None
        )
        size = getattr(sub, "size", None)
        lo = getattr(size, "shortest_edge", None) or getattr(sub, "min_pixels", None)
        hi = getattr(size, "longest_edge", None) or getattr(sub, "max_pixels", None)
        return cls(
            patch_size=int(getattr(sub, "patch_size", None) or 14),
            merge_size=int(getattr(sub, "merge_size", None) or 2),
            temporal_patch_size=int(getattr(sub, "temporal_patch_size", None) or 2),
            resize=bool(getattr(sub, "do_resize", False) and lo and hi),
            min_pixels=int(lo or 0),
            max_pixels=int(hi or 0),
            cap_pixels_per_frame=bool(getattr(sub, "cap_pixels_per_frame", False)),
            max_video_tokens=int(getattr(sub, "max_video_tokens", None) or 0),
        )

    def frame_size(self, t: int, h: int, w: int) -> tuple[int, int]:
        """(H, W) of the frames as the engine's processor will see them."""
        if not self.resize:
            return h, w
        from transformers.models.qwen2_vl.video_processing_qwen2_vl import smart_resize

        factor = self.patch_size * self.merge_size
        max_pixels = self.max_pixels
        if self.cap_pixels_per_frame and self.max_video_tokens:
            total = int(self.max_video_tokens * factor * factor * 0.9)
            share = total * self.temporal_patch_size // max(t, 1)
            max_pixels = max(min(max_pixels, share), int(self.min_pixels * 1.05))
        return smart_resize(h, w, factor=factor, min_pixels=self.min_pixels, max_pixels=max_pixels)

    def video_tokens(self, shape: tuple[int, ...]) -> int:
        """Tokens of a decoded (T, C, H, W) video."""
        t, _c, h, w = shape
        h, w = self.frame_size(t, h, w)
        grid_t = math.ceil(t / self.temporal_patch_size)
        return grid_t * (h // self.patch_size) * (w // self.patch_size) // self.merge_size**2

    def image_tokens(self, width: int, height: int) -> int:
        return (height // self.patch_size) * (width // self.patch_size) // self.merge_size**2


@dataclass
class TokenCount:
    text: int
    video: int

    @property
    def total(self) -> int:
        return self.text + self.video


class TokenBudget:
    """Counts a rendered vLLM input; `check` raises `too_many_tokens` over the limit."""

    def __init__(self, processor: Any, max_model_len: int | None) -> None:
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.geometry = Geometry.of(processor)
        self.max_model_len = max_model_len

    def count(self, llm_input: dict[str, Any]) -> TokenCount:
        mm = llm_input.get("multi_modal_data") or {}
        geometry = self.geometry
        if (llm_input.get("mm_processor_kwargs") or {}).get("do_resize") is False:
            geometry = replace(geometry, resize=False)  # frames reach the model as they are
        visual = 0
        placeholders = 0
        for video in mm.get("video") or []:
            frames = video[0] if isinstance(video, tuple) else video
            visual += geometry.video_tokens(tuple(frames.shape))
            placeholders += 1
        for image in mm.get("image") or []:
            visual += geometry.image_tokens(*image.size)
            placeholders += 1
        ids = llm_input.get("prompt_token_ids")
        if ids is None:
            ids = self.tokenizer(llm_input["prompt"], add_special_tokens=False)["input_ids"]
        # Each item stands in the rendered prompt as one pad token, expanded by vLLM.
        return TokenCount(text=len(ids) - placeholders, video=visual)

    def measure(self, llm_input: dict[str, Any]) -> TokenCount | None:
        """The count, or None for an input this count does not understand (a custom
        dataset's): the engine still validates those, and rejects them one by one."""
        try:
            return self.count(llm_input)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def over(self, n: TokenCount) -> SampleError | None:
        """The error for a count over the limit, else None."""
        # vLLM also refuses a prompt of exactly max_model_len: no room for one output token.
        if self.max_model_len is None or n.total < self.max_model_len:
            return None
        return SampleError(
            "too_many_tokens",
            f"the prompt would take {n.total} tokens ({n.video} for the video, "
            f"{n.text} of text) and vllm.max_model_len is {self.max_model_len}; "
            "lower vision.total_pixels / vision.max_pixels / vision.fps, raise "
            "vllm.max_model_len, or split long videos into clips (clips.mode: fixed or "
            "shots, clips.seconds)",
        )

    def check(self, llm_input: dict[str, Any]) -> TokenCount | None:
        """`measure`, raising `too_many_tokens` over the limit."""
        n = self.measure(llm_input)
        if n is not None and (error := self.over(n)) is not None:
            raise error
        return n
