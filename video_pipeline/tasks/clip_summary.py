"""`clip_summary`: one summary of a video from its clips' captions, in time order.

The summary pass of `clips.summary`: text only, no video is decoded. Each sample is a
video's summary row (clips/summary.py); run as a stage after the clip task, its
captions come from the many-to-one upstream join (the video's clip records in time
order, `sample["upstream"]`), otherwise from the row's own `captions`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from video_pipeline.io.keys import format_seconds
from video_pipeline.tasks.base import Params, ParseError, Task
from video_pipeline.tasks.registry import register_task

DEFAULT_PROMPT = (
    "Below are captions of consecutive clips of one video, each with its time span in "
    "seconds. Write one summary of the whole video: what happens, in order."
)


class ClipSummaryParams(Params):
    prompt: str = Field(DEFAULT_PROMPT, description="the question asked")
    system: str = Field("You are a helpful assistant.", description="the system message")


@register_task
class ClipSummaryTask(Task):
    name = "clip_summary"
    dataset_name = "clip_captions"
    params_model = ClipSummaryParams

    def build_messages(self, sample: dict[str, Any]) -> list[dict[str, Any]]:
        lines = [
            f"[{format_seconds(c['start'])}-{format_seconds(c['end'])} s] {_text(c)}"
            for c in captions(sample)
        ]
        text = self.params.get("prompt", DEFAULT_PROMPT) + "\n\n" + "\n".join(lines)
        system = self.params.get("system", "You are a helpful assistant.")
        return [
            {"role": "system", "content": system},
            {"role": "user", "content": [{"type": "text", "text": text}]},
        ]

    def result_fields(self) -> list[str]:
        return ["summary"]

    def parse(self, generated_text: str, sample: dict[str, Any]) -> dict[str, Any]:
        text = generated_text.strip()
        if not text:
            raise ParseError("empty answer")
        return {"summary": text}


def captions(sample: dict[str, Any]) -> list[dict[str, Any]]:
    """The video's clips that answered, in time order: its upstream clip task's when
    joined, else the row's."""
    for given in (sample.get("upstream") or {}).values():
        if "clips" in given:
            return given["clips"]
    return sample["raw"]["captions"]


def _text(caption: dict[str, Any]) -> str:
    return (caption.get("text") or "").strip()
