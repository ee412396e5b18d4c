"""`audio`: a video's soundtrack in windows, one request each; no frame is decoded.

The task's messages name the video as any task's do (so the clip bounds reach it the
same way, as `video_start`/`video_end`). The soundtrack is decoded once (shared with
the tasks on the same engine that hear it, data/decodes.py) and cut into `Parts`: one
request per window, with the window's times in the file. Two kinds of model take it:

- a speech model (Whisper): an encoder-decoder input per window of at most 30 s, the
  messages' text as its decoder prompt;
- a chat model that hears (the Omni families): a chat prompt per window with the audio
  and the task's `chat_instruction()`, windows no longer than the family hears.

A video without an audio track gives no parts (an empty transcript, not an error); a
track that fails to decode an `audio_decode_error`.
"""

from __future__ import annotations

import functools
from typing import Any

from video_pipeline.data import audio
from video_pipeline.data.base import BaseDataset, audio_range, video_elements
from video_pipeline.data.decodes import AudioNeed, SampleDecodes
from video_pipeline.data.registry import register_dataset
from video_pipeline.data.sample import Parts
from video_pipeline.errors import SampleError
from video_pipeline.models.profile import ModelProfile

WHISPER_WINDOW_S = 30.0  # what one Whisper encoder pass hears


@register_dataset("audio")
class AudioDataset(BaseDataset):
    @functools.cached_property
    def listener(self) -> ModelProfile | None:
        """The chat model that hears the windows, or None for a speech model (Whisper),
        which is no chat family."""
        from video_pipeline.models import UnsupportedModelError, profile_for_processor

        try:
            profile = profile_for_processor(self.processor)
        except UnsupportedModelError:
            return None
        if not profile.hears:
            raise SampleError(
                "internal_error",
                f"task {self.task.name!r} needs a model that hears: a speech model "
                f"(Whisper) or an Omni model; {profile.label} sees frames only",
            )
        return profile

    @property
    def hears(self) -> bool:
        return False  # its records carry no `audio` facts: the soundtrack is the input

    def render_prompt(self, messages: list[dict[str, Any]]) -> str:
        if self.listener is None:
            return _text(messages)  # Whisper's decoder prompt
        instruction = getattr(self.task, "chat_instruction", None)
        if instruction is None:
            raise SampleError(
                "internal_error",
                f"task {self.task.name!r} has no chat_instruction() for a chat model that hears",
            )
        chat = [
            {
                "role": "user",
                "content": [
                    {"type": "audio", "audio": ""},
                    {"type": "text", "text": instruction()},
                ],
            }
        ]
        return super().render_prompt(chat)

    def audio_needs(self, messages: list[dict[str, Any]]) -> list[AudioNeed]:
        videos = video_elements(messages)
        if not videos:
            raise ValueError("the task's messages name no video")
        return [AudioNeed(*audio_range(videos[-1]))]

    def input_from(
        self, messages: list[dict[str, Any]], prompt: str, decodes: SampleDecodes
    ) -> Parts:
        track = decodes.audio(self.audio_needs(messages)[0])
        window_s = float(self.task.params.get("window_s", WHISPER_WINDOW_S))
        return audio_parts(track, prompt, window_s, self.listener)


def audio_parts(
    track: audio.AudioTrack | None,
    prompt: str,
    window_s: float = WHISPER_WINDOW_S,
    listener: ModelProfile | None = None,
) -> Parts:
    """A decoded soundtrack as one request per window of `window_s` seconds (the last
    shorter); each part's meta holds its times in the file. `listener`: the chat model
    that hears the windows (its `prompt` a chat prompt), None for Whisper (`prompt` its
    decoder prompt)."""
    if track is None:
        return Parts([], [])
    if listener is not None and listener.max_audio_s is not None:
        window_s = min(window_s, listener.max_audio_s)
    inputs, meta = [], []
    for window in audio.windows(track, window_s):
        if listener is None:
            inputs.append(
                {
                    "encoder_prompt": {
                        "prompt": "",  # Whisper's encoder reads the audio alone
                        "multi_modal_data": {"audio": (window.samples, window.sample_rate)},
                    },
                    "decoder_prompt": prompt,
                }
            )
        else:
            samples = window.samples[: listener.whole_hops(len(window.samples))]
            inputs.append(
                {"prompt": prompt, "multi_modal_data": {"audio": [(samples, window.sample_rate)]}}
            )
        meta.append(
            {"start": round(window.start, 3), "end": round(window.end, 3), "chat": bool(listener)}
        )
    return Parts(inputs, meta)


def _text(messages: list[dict[str, Any]]) -> str:
    """The messages' text: Whisper's decoder prompt."""
    texts = []
    for message in messages:
        content = message.get("content")
        for ele in content if isinstance(content, list) else [{"text": content}]:
            if isinstance(ele, dict) and "video" not in ele and isinstance(ele.get("text"), str):
                texts.append(ele["text"])
    return "".join(texts)
