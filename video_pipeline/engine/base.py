"""The streaming interface the runner needs from an engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass
class Finished:
    request_id: str
    text: str
    prompt_tokens: int
    generated_tokens: int
    finish_reason: str | None
    cached_tokens: int = 0
    # (error kind, message) when the engine ended the request with an error, not an answer
    error: tuple[str, str] | None = None


class RequestRejected(Exception):
    """The engine refused one request (e.g. its prompt is too long); others go on."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Engine(Protocol):
    """Requests are prepared in three steps so that the costly ones can run off the
    thread that steps the engine: `tokenize` and `render` (the model's processor over
    the frames) anywhere, then `add` and `step` on the stepping thread only."""

    def tokenize(self, llm_input: dict[str, Any]) -> dict[str, Any]:
        """The input with `prompt_token_ids` as the engine tokenizes it (or as given)."""
        ...

    def render(self, tokenized: dict[str, Any]) -> Any:
        """The request ready to add; raises RequestRejected for an input it refuses."""
        ...

    def add(self, request_id: str, rendered: Any, params: Any) -> None: ...

    def step(self) -> list[Finished]: ...

    def in_flight(self) -> int: ...
