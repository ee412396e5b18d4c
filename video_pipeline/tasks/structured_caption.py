"""`structured_caption`: a JSON object with declared fields, decoded under a JSON schema.

The schema goes to vLLM's structured-output decoding, so the model can only emit text
that fits it; the answer is still parsed and validated, because generation can stop
early (max_tokens, an end token the grammar does not mask) and leave invalid JSON.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from video_pipeline.tasks.base import ParseError, Task
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


@register_task
class StructuredCaptionTask(Task):
    name = "structured_caption"
    allowed_params = ("fields", "prompt", "system", "max_items", "max_chars")

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> list[str]:
        errs = super().check_params(params)
        fields = params.get("fields", DEFAULT_FIELDS)
        if not isinstance(fields, list) or not fields:
            errs.append(f"task_params.fields must be a non-empty list, got {fields!r}")
        else:
            bad = [f for f in fields if f not in FIELDS]
            if bad:
                errs.append(
                    f"task_params.fields has unknown field(s) {bad}; allowed: {', '.join(FIELDS)}"
                )
        for name, default in (("max_items", 8), ("max_chars", 1000)):
            v = params.get(name, default)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                errs.append(f"task_params.{name} must be an integer >= 1, got {v!r}")
        return errs

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
