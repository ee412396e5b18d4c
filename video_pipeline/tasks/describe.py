"""`describe`: a free-text description of the video."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from video_pipeline.tasks.base import Params, ParseError, Task
from video_pipeline.tasks.registry import register_task

DEFAULT_PROMPT = (
    "Describe this video in detail: the setting, the people and objects in it, "
    "what happens and in what order, and how the camera moves."
)


class DescribeParams(Params):
    prompt: str = Field(DEFAULT_PROMPT, description="the question asked")
    system: str = Field("You are a helpful assistant.", description="the system message")


@register_task
class DescribeTask(Task):
    name = "describe"
    params_model = DescribeParams

    def build_messages(self, sample: dict[str, Any]) -> list[dict[str, Any]]:
        return self.video_first(
            sample["__video_uri"],
            self.params.get("prompt", DEFAULT_PROMPT),
            self.params.get("system", "You are a helpful assistant."),
        )

    def result_fields(self) -> list[str]:
        return ["description"]

    def parse(self, generated_text: str, sample: dict[str, Any]) -> dict[str, Any]:
        text = generated_text.strip()
        if not text:
            raise ParseError("empty answer")
        return {"description": text}
