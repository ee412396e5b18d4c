"""`structured_caption`: a JSON object with declared fields, decoded under a JSON schema.

The schema goes to vLLM's structured-output decoding, so the model can only emit text
that fits it; the answer is still parsed and validated, because generation can stop
early (max_tokens, an end token the grammar does not mask) and leave invalid JSON.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import jsonschema
from pydantic import Field, field_validator

from video_pipeline.config.errors import Says, problem_error
from video_pipeline.tasks.base import Params, ParseError, Task
from video_pipeline.tasks.registry import register_task

# Field name -> JSON schema of its value.
FIELDS: dict[str, dict[str, Any]] = {
    "summary": {"type": "string"},
    "objects": {"type": "array", "items": {"type": "string"}},
    "actions": {"type": "array", "items": {"type": "string"}},
    "scene": {"type": "string"},
    "camera": {"type": "string"},
    "shot_type": {"type": "string"},  # close-up, wide, ...: asked for by name only
}
DEFAULT_FIELDS = ["summary", "objects", "actions", "scene", "camera"]
_COUNT = Says(must="be an integer >= 1")


class CaptionParams(Params):
    fields: Annotated[list[str], Says(must="be a non-empty list")] = Field(
        default_factory=lambda: list(DEFAULT_FIELDS),
        min_length=1,
        description=f"fields of the answer, a subset of {', '.join(FIELDS)}",
    )
    prompt: str | None = Field(None, description="the question; null: one naming the fields")
    system: str = Field("You are a helpful assistant.", description="the system message")
    max_items: Annotated[int, _COUNT] = Field(8, ge=1, description="longest list field")
    max_chars: Annotated[int, _COUNT] = Field(1000, ge=1, description="longest string")

    @field_validator("fields")
    @classmethod
    def _known(cls, fields: list[str]) -> list[str]:
        bad = [f for f in fields if f not in FIELDS]
        if bad:
            raise problem_error(
                [f"task_params.fields has unknown field(s) {bad}; allowed: {', '.join(FIELDS)}"]
            )
        return fields


@register_task
class StructuredCaptionTask(Task):
    name = "structured_caption"
    params_model = CaptionParams

    @property
    def fields(self) -> list[str]:
        return list(self.params.get("fields", DEFAULT_FIELDS))

    def result_fields(self) -> list[str]:
        return self.fields

    def json_schema(self) -> dict[str, Any]:
        props = {}
        for f in self.fields:
            # Bounds keep answers finite: the grammar then forces the JSON to close.
            prop = dict(FIELDS[f])
            max_chars = self.params.get("max_chars", 1000)
            if prop["type"] == "array":
                prop["maxItems"] = self.params.get("max_items", 8)
                prop["items"] = {**prop["items"], "maxLength": max_chars}
            else:
                prop["maxLength"] = max_chars
            props[f] = prop
        return {
            "type": "object",
            "properties": props,
            "required": self.fields,
            "additionalProperties": False,
        }

    def build_messages(self, sample: dict[str, Any]) -> list[dict[str, Any]]:
        prompt = self.params.get("prompt") or (
            "Caption this video as a JSON object with the fields "
            + ", ".join(self.fields)
            + ". Answer with the JSON object only."
        )
        return self.video_first(
            sample["__video_uri"], prompt, self.params.get("system", "You are a helpful assistant.")
        )

    def parse(self, generated_text: str, sample: dict[str, Any]) -> dict[str, Any]:
        try:
            obj = json.loads(
                generated_text, strict=False
            )  # raw control chars in strings are harmless
        except json.JSONDecodeError as e:
            raise ParseError(f"answer is not valid JSON: {e}") from None
        try:
            jsonschema.validate(obj, self.json_schema())
        except jsonschema.ValidationError as e:
            raise ParseError(f"answer does not match the schema: {e.message}") from None
        return obj
