"""`text`: text-only samples (a staged task's prompt); the row's video is never opened."""

from __future__ import annotations

from typing import Any

from video_pipeline.data.base import BaseDataset
from video_pipeline.data.registry import register_dataset


@register_dataset("text")
class TextDataset(BaseDataset):
    """The prompt is the task's text alone: no decode, no vision inputs."""

    def video_uri(self, value: Any) -> Any:
        return value

    def build_llm_input(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {"prompt": self.render_prompt(messages)}
