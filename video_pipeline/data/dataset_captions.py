"""`clip_captions`: text-only samples (a video's clip captions); no video is decoded."""

from __future__ import annotations

from typing import Any

from video_pipeline.data.base import BaseDataset
from video_pipeline.data.registry import register_dataset


@register_dataset("clip_captions")
class ClipCaptionsDataset(BaseDataset):
    """Rows name their video but the prompt is text alone: the file is never opened."""

    def video_uri(self, value: Any) -> Any:
        return value

    def build_llm_input(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {"prompt": self.render_prompt(messages)}
