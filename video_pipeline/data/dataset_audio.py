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
from video_pipeline.data.base import BaseDataset
from video_pipeline.data.registry import register_dataset
from video_pipeline.data.sample import Parts

WHISPER_WINDOW_S = 30.0  # what one Whisper encoder pass hears


@register_dataset("audio")
class AudioDataset(BaseDataset):
    def build_llm_input(self, messages: list[dict[str, Any]]) -> Parts:  # type: ignore[override]
        video, text = _video_and_text(messages)
        window_s = float(self.task.params.get("window_s", WHISPER_WINDOW_S))
        return audio_parts(
            video["video"],
            text,
            window_s,
            float(video.get("video_start") or 0.0),
            video.get("video_end"),
        )


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
    for track in audio.iter_windows(path, window_s, start, None if end is None else float(end)):
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


def _video_and_text(messages: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    video: dict[str, Any] | None = None
    texts = []
    for message in messages:
        content = message.get("content")
        for ele in content if isinstance(content, list) else [{"text": content}]:
            if isinstance(ele, dict) and (ele.get("type") == "video" or "video" in ele):
                video = ele
            elif isinstance(ele, dict) and isinstance(ele.get("text"), str):
                texts.append(ele["text"])
    if video is None:
        raise ValueError("the task's messages name no video")
    return video, "".join(texts)
