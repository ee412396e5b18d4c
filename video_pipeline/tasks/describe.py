"""`describe`: a free-text description of the video."""

from __future__ import annotations

from typing import Any

from video_pipeline.tasks.base import ParseError, Task
from video_pipeline.tasks.registry import register_task

DEFAULT_PROMPT = (
    "Describe this video in detail: the setting, the people and objects in it, "
    "what happens and in what order, and how the camera moves."
)


@register_task
class DescribeTask(Task):
    name = "describe"
    allowed_params = ("prompt", "system")

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> list[str]:
        errs = super().check_params(params)
        for key in ("prompt", "system"):
            if key in params and not isinstance(params[key], str):
                errs.append(f"task_params.{key} must be a string, got {params[key]!r}")
        return errs

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
