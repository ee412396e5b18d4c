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


class RequestRejected(Exception):
    """The engine refused one request (e.g. its prompt is too long); others go on."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Engine(Protocol):
    def add(self, request_id: str, llm_input: dict[str, Any], params: Any) -> None: ...

    def step(self) -> list[Finished]: ...

    def in_flight(self) -> int: ...
