"""What a task is: the messages it sends for a video and how it reads the answer."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from video_pipeline.config.errors import problems
from video_pipeline.config.schema import VllmConfig


class ParseError(ValueError):
    """The model's answer does not have the shape the task needs (kept as an error record)."""


class Params(BaseModel):
    """A task's `task_params` (minus `dataset`): unknown keys refused, no coercion.

    Defaults document the task; the task reads its params from the config's mapping.
    """

    model_config = ConfigDict(extra="forbid", strict=True)


class Task:
    """A question asked of every video.

    Subclasses set `name` (the registry key, used in `run.task`), may set
    `dataset_name` and `params_model`, and implement `build_messages` and `parse`.
    `params` holds the config's `task_params` (minus `dataset`). Bump `version` when a
    change to the code changes answers, so that old results are not mixed with new ones.
    """

    name: ClassVar[str] = ""
    dataset_name: ClassVar[str] = "qwen_video"
    version: ClassVar[str] = "1"
    # The model `task_params` must fit; None accepts anything (or the keys of
    # `allowed_params`, the older way to declare them).
    params_model: ClassVar[type[Params] | None] = None
    allowed_params: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, **params: Any) -> None:
        self.params = params

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> list[str]:
        """Messages for bad `task_params`, each naming the key; empty when fine."""
        model = cls.params_model
        if model is None and cls.allowed_params is not None:
            model = _keys_model(cls.allowed_params)
        if model is None:
            return []
        try:
            model.model_validate(params)
        except ValidationError as e:
            return problems(e, model, params, "task_params", unknown=cls._unknown_param)
        return []

    @classmethod
    def _unknown_param(cls, key: str, allowed: list[str]) -> str:
        return (
            f"task_params.{key} is not a parameter of task {cls.name!r}; "
            f"allowed: {', '.join(allowed) or '(none)'}"
        )

    def build_messages(self, sample: dict[str, Any]) -> list[dict[str, Any]]:
        """Chat messages for one sample; `sample["__video_uri"]` names the video."""
        raise NotImplementedError

    def parse(self, generated_text: str, sample: dict[str, Any]) -> dict[str, Any]:
        """The answer as a JSON-able mapping; raise `ParseError` when it is unusable."""
        raise NotImplementedError

    def parse_parts(
        self, texts: list[str], meta: list[dict[str, Any]], sample: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        """The answers to a `Parts` input (one per part, in order; none for no parts) as
        the record's text and result; for tasks whose dataset renders a sample into
        several requests (`transcribe`'s windows). Raise `ParseError` when unusable."""
        raise NotImplementedError(f"task {self.name!r} takes no multi-part inputs")

    @classmethod
    def engine_config(cls, cfg: VllmConfig) -> VllmConfig:
        """The engine section this task's engine is built from: `cfg`, or what the
        task's kind of model needs of it (e.g. a speech model takes audio, not video)."""
        return cfg

    def result_fields(self) -> list[str] | None:
        """The top-level fields of `parse`'s result, which a later stage's prompt may
        name (`{task.result.<field>}`); None: not declared, any name is accepted."""
        return None

    def sampling_overrides(self) -> dict[str, Any]:
        """Extra `SamplingParams` fields this task needs (e.g. structured outputs)."""
        return {}

    def json_schema(self) -> dict[str, Any] | None:
        """A JSON schema the answer must follow, requested through guided decoding."""
        return None

    @staticmethod
    def video_first(video_uri: Any, text: str, system: str | None = None) -> list[dict[str, Any]]:
        """Messages with the video before the text.

        Putting the video first lets several tasks over the same video share its
        prompt prefix in vLLM's prefix cache (the video tokens dominate the prompt).
        """
        messages: list[dict[str, Any]] = []
        if system:
            messages.append({"role": "system", "content": system})
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "video", "video": video_uri},
                    {"type": "text", "text": text},
                ],
            }
        )
        return messages


def _keys_model(keys: tuple[str, ...]) -> type[Params]:
    """A params model taking `keys`, any value each (for `allowed_params`)."""
    from pydantic import create_model

    return create_model("Params", __base__=Params, **{k: (Any, None) for k in keys})
