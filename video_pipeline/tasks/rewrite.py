"""`rewrite`: a text-only task, usually on a text LLM, over earlier tasks' answers.

Its prompt is a template (see video_pipeline/stages): `{describe.text}`,
`{structured_caption.result.<field>}`, `{raw.<field path>}`, filled per sample from the
tasks of its `after:`; no video is decoded. The answer is kept whole as `caption`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from video_pipeline.config.errors import Says
from video_pipeline.tasks.base import Params, ParseError, Task
from video_pipeline.tasks.registry import register_task


class RewriteParams(Params):
    prompt: Annotated[str, Says(must="be a non-empty string")] = Field(
        "",
        validate_default=True,
        min_length=1,
        pattern=r"\S",
        description="the prompt, a template over the answers of the tasks in `after`",
    )
    system: str = Field("You are a helpful assistant.", description="the system message")


@register_task
class RewriteTask(Task):
    name = "rewrite"
    dataset_name = "text"
    params_model = RewriteParams

    def build_messages(self, sample: dict[str, Any]) -> list[dict[str, Any]]:
        system = self.params.get("system", "You are a helpful assistant.")
        return [
            {"role": "system", "content": system},
            {"role": "user", "content": self.params["prompt"]},
        ]

    def result_fields(self) -> list[str]:
        return ["caption"]

    def parse(self, generated_text: str, sample: dict[str, Any]) -> dict[str, Any]:
        text = generated_text.strip()
        if not text:
            raise ParseError("empty answer")
        return {"caption": text}
