"""FakeEngine: a stand-in for unit tests of the runner's scheduling, never for results.

It answers each request after a fixed number of steps with a canned text, and records
how many requests were in flight at each step, so tests can check that the runner keeps
the window full.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from video_pipeline.engine.base import Finished, RequestRejected


class FakeEngine:
    def __init__(
        self,
        steps_per_request: int = 2,
        text: str = "fake answer",
        max_prompt: int = 10**9,
        step_s: float = 0.0,
    ) -> None:
        self.steps_per_request = steps_per_request
        self.step_s = step_s
        self.text = text
        self.max_prompt = max_prompt
        self._queue: deque[tuple[str, int]] = deque()
        self.in_flight_history: list[int] = []
        self.added: list[str] = []
        self.inputs: list[dict[str, Any]] = []  # what each request was given, in order

    def tokenize(self, llm_input: dict[str, Any]) -> dict[str, Any]:
        return llm_input  # the token budget tokenizes it with the model's tokenizer

    def render(self, tokenized: dict[str, Any]) -> dict[str, Any]:
        return tokenized

    def add(self, request_id: str, llm_input: dict[str, Any], params: Any) -> None:
        if len(llm_input.get("prompt", "")) > self.max_prompt:
            raise RequestRejected("too_many_tokens", "prompt longer than the fake limit")
        self.added.append(request_id)
        self.inputs.append(llm_input)
        self._queue.append((request_id, self.steps_per_request))

    def step(self) -> list[Finished]:
        self.in_flight_history.append(len(self._queue))
        if self.step_s:
            time.sleep(self.step_s)  # a step's compute time, so decode can keep up
        done, keep = [], deque()
        for rid, left in self._queue:
            if left <= 1:
                done.append(Finished(rid, self.text, 10, 3, "stop"))
            else:
                keep.append((rid, left - 1))
        self._queue = keep
        return done

    def in_flight(self) -> int:
        return len(self._queue)
