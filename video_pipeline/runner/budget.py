"""How many tokens a prompt will take, counted before it reaches the engine.

vLLM expands each image or video placeholder of a rendered prompt into the tokens the
model family lays out for it (`ModelProfile.video_tokens`: one per merged patch for
Qwen2-VL and Qwen2.5-VL, plus per-frame timestamp text for Qwen3-VL). Counting here
lets an over-long prompt become an error record of its own instead of an engine
error, and lets `preflight` price a run without loading the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from video_pipeline.errors import SampleError
from video_pipeline.models import ModelProfile, ProcessorBounds, profile_for_processor


@dataclass
class TokenCount:
    text: int
    video: int
    audio: int = 0  # a video's audio heard with it (Omni, vision.use_audio_in_video)

    @property
    def total(self) -> int:
        return self.text + self.video + self.audio


class TokenBudget:
    """Counts a rendered vLLM input; `check` raises `too_many_tokens` over the limit."""

    def __init__(
        self, processor: Any, max_model_len: int | None, profile: ModelProfile | None = None
    ) -> None:
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self._profile = profile
        self._processor = processor
        self.bounds = ProcessorBounds.of(processor)
        self.max_model_len = max_model_len
        self._text: dict[str, int] = {}  # timestamps repeat from video to video

    @property
    def profile(self) -> ModelProfile:
        """The model family, looked up when a video or image is counted: a text-only
        model (a staged `rewrite` task's) has none."""
        if self._profile is None:
            self._profile = profile_for_processor(self._processor)
        return self._profile

    def count_text(self, text: str) -> int:
        """Tokens of `text` alone, as vLLM tokenizes inserted text (no special tokens)."""
        n = self._text.get(text)
        if n is None:
            n = self._text[text] = len(self.tokenizer.encode(text, add_special_tokens=False))
        return n

    def video_tokens(self, frames_shape: tuple[int, ...], metadata: Any, resize: bool) -> int:
        """Tokens of one decoded (T, C, H, W) video, as the processor will size it."""
        t, c, h, w = frames_shape
        if resize:  # the request lets the model's processor resize the frames again
            h, w = self.profile.processor_frame_size(t, h, w, self.bounds)
        return self.profile.video_tokens((t, c, h, w), metadata, self.count_text)

    def count(self, llm_input: dict[str, Any]) -> TokenCount:
        mm = llm_input.get("multi_modal_data") or {}
        kwargs = llm_input.get("mm_processor_kwargs") or {}
        resize = self.bounds.resize and kwargs.get("do_resize") is not False
        visual = 0
        placeholders = 0
        for video in mm.get("video") or []:
            frames, metadata = video if isinstance(video, tuple) else (video, None)
            visual += self.video_tokens(tuple(frames.shape), metadata, resize)
            placeholders += 1
        for image in mm.get("image") or []:
            visual += self.profile.image_tokens(*image.size)
            placeholders += 1
        audio = 0
        if kwargs.get("use_audio_in_video"):  # inside the video's placeholder
            for samples, _rate in mm.get("audio") or []:
                audio += self.profile.audio_in_video_tokens(len(samples))
        else:  # audio items of their own (a transcript's windows), a pad token each
            for samples, _rate in mm.get("audio") or []:
                audio += self.profile.audio_tokens(len(samples))
                placeholders += 1
        ids = llm_input.get("prompt_token_ids")
        if ids is None:
            ids = self.tokenizer(llm_input["prompt"], add_special_tokens=False)["input_ids"]
        # Each item stands in the rendered prompt as one pad token, expanded by vLLM.
        return TokenCount(text=len(ids) - placeholders, video=visual, audio=audio)

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
            f"{f'{n.audio} for its audio, ' if n.audio else ''}{n.text} of text) "
            f"and vllm.max_model_len is {self.max_model_len}; "
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
