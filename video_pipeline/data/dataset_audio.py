"""`audio`: a video's soundtrack in windows, one Whisper request each; no frame is decoded.

The task's messages name the video as any task's do (so the clip bounds reach it the
same way, as `video_start`/`video_end`), and their text is the decoder prompt. The
soundtrack is read window by window (data/audio.py) into `Parts`: one encoder-decoder
input per window, with the window's times in the file. A video without an audio track
gives no parts (an empty transcript, not an error); a track that fails to decode an
`audio_decode_error`.
"""

from __future__ import annotations

from typing import Any

from video_pipeline.data import audio
from video_pipeline.data.base import BaseDataset, audio_range, video_elements
from video_pipeline.data.registry import register_dataset
from video_pipeline.data.sample import Parts

WHISPER_WINDOW_S = 30.0  # what one Whisper encoder pass hears


@register_dataset("audio")
class AudioDataset(BaseDataset):
    def build_llm_input(self, messages: list[dict[str, Any]]) -> Parts:  # type: ignore[override]
        videos = video_elements(messages)
        if not videos:
            raise ValueError("the task's messages name no video")
        window_s = float(self.task.params.get("window_s", WHISPER_WINDOW_S))
        path, start, end = audio_range(videos[-1])
        return audio_parts(path, _text(messages), window_s, start, end)


def audio_parts(
    path: str,
    decoder_prompt: str,
    window_s: float = WHISPER_WINDOW_S,
    start: float = 0.0,
    end: float | None = None,
) -> Parts:
    """The soundtrack between `start` and `end` as one request per window of `window_s`
    seconds; each part's meta holds its times in the file (the last window shorter)."""
    inputs, meta = [], []
    for track in audio.iter_windows(path, window_s, start, end):
        inputs.append(
            {
                "encoder_prompt": {
                    "prompt": "",  # Whisper's encoder reads the audio alone
                    "multi_modal_data": {"audio": (track.samples, track.sample_rate)},
                },
                "decoder_prompt": decoder_prompt,
            }
        )
        meta.append({"start": round(track.start, 3), "end": round(track.end, 3)})
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
