"""`rewrite`: a text-only task, usually on a text LLM, over earlier tasks' answers.

Its prompt is a template (see video_pipeline/stages): `{describe.text}`,
`{structured_caption.result.<field>}`, `{raw.<field path>}`, filled per sample from the
tasks of its `after:`; no video is decoded. The answer is kept whole as `caption`.
"""

from __future__ import annotations

from typing import Any

from video_pipeline.tasks.base import ParseError, Task
from video_pipeline.tasks.registry import register_task


@register_task
class RewriteTask(Task):
    name = "rewrite"
    dataset_name = "text"
    allowed_params = ("prompt", "system")

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> list[str]:
        errs = super().check_params(params)
        prompt = params.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            errs.append(f"task_params.prompt must be a non-empty string, got {prompt!r}")
        if "system" in params and not isinstance(params["system"], str):
            errs.append(f"task_params.system must be a string, got {params['system']!r}")
        return errs

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
