"""Turning decoded samples into engine requests, off the thread that steps the engine.

vLLM's `add_request` tokenizes the prompt and runs the model's processor over the
frames (normalise, patchify) in the caller's thread; while it does, no step is
scheduled and the GPU waits. Here a render thread does that work for each decoded
sample as it arrives: the token budget check (on the engine's own tokenization, so
each prompt is tokenized once), then the processor; the stepping thread only adds
rendered requests and steps.

Requests leave in the order they were rendered. vLLM's processor cache is mirrored
between the rank and the engine process and must see requests in the order the engine
receives them, so with more than one render thread the rank turns that cache off.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from video_pipeline.data.sample import Parts, Prepared
from video_pipeline.engine.base import Engine, RequestRejected
from video_pipeline.errors import SampleError, record_error
from video_pipeline.io.record import RecordError
from video_pipeline.runner.budget import TokenBudget
from video_pipeline.runner.feed import EMPTY, END, DecodeFeed
from video_pipeline.runner.memory import ByteGate, tensor_bytes
from video_pipeline.runner.queues import put_until_stopped
from video_pipeline.runner.threads import pin_here
from video_pipeline.strips import StripWriter, write_sample_strip

log = logging.getLogger("video_pipeline")


@dataclass
class Rendered:
    """A decoded sample made into requests: one per task that could take it."""

    sample: Prepared
    requests: list[tuple[int, Any]] = field(default_factory=list)  # (task, request)
    # task -> its parts' meta, for a task whose input is `Parts` (its requests above, in
    # order, one per part: they are gathered into one record)
    parts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    failures: list[tuple[int, RecordError]] = field(default_factory=list)  # (task, error)
    render_s: float = 0.0


class RenderPool:
    """`threads` threads from the decode feed to a bounded queue of Rendered samples."""

    def __init__(
        self,
        feed: DecodeFeed,
        engine: Engine,
        budget: TokenBudget,
        gate: ByteGate,
        threads: int,
        maxsize: int,
        cores: set[int] | None = None,
        strips: list[StripWriter | None] | None = None,
    ) -> None:
        self.feed = feed
        self.strips = strips or []  # per task: its thumbnail sidecar, None when off
        self.engine = engine
        self.budget = budget
        self.gate = gate
        self.cores = cores
        self._q: queue.Queue[Any] = queue.Queue(maxsize=max(1, maxsize))
        self._stop = threading.Event()
        self._live = threads
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, name=f"render-{i}", daemon=True)
            for i in range(threads)
        ]
        for t in self._threads:
            t.start()

    def _run(self) -> None:
        try:
            pin_here(self.cores)  # off the engine's cores
            while not self._stop.is_set():
                item = self.feed.get(block=True)
                if item is END:
                    break
                if item is EMPTY:
                    continue
                if not self._put(self.render(item)):
                    return
        except BaseException as e:  # surfaced to the stepping thread, which stops the rank
            self._put(_Failure(e))
            return
        with self._lock:
            self._live -= 1
            last = self._live == 0
        if last:
            self._put(END)

    def render(self, sample: Prepared) -> Rendered:
        t0 = time.perf_counter()
        out = Rendered(sample)
        if sample.error is not None:
            out.failures = [(j, sample.error) for j in sample.tasks]
            return out
        for j, llm_input in zip(sample.tasks, sample.inputs or [], strict=True):
            multi = isinstance(llm_input, Parts)
            try:
                requests = [self._request(x) for x in (llm_input.inputs if multi else [llm_input])]
            except SampleError as e:
                out.failures.append((j, e.record_error()))
                continue
            except RequestRejected as e:
                out.failures.append((j, record_error(e.kind, str(e))))
                continue
            for request in requests:
                self.gate.hold(sample.index, tensor_bytes(request))  # the processor's copy
                out.requests.append((j, request))
            if multi:
                out.parts[j] = llm_input.meta
        out.render_s = time.perf_counter() - t0
        if self.strips:  # here, not in the stepping thread; timed by the writers
            writers = [self.strips[j] for j in sample.tasks]
            write_sample_strip(writers, sample.key, sample.inputs)
        return out

    def _request(self, llm_input: dict[str, Any]) -> Any:
        tokenized = self.engine.tokenize(llm_input)
        self.budget.check(tokenized)  # over-long prompts never reach the engine
        return self.engine.render(tokenized)

    def _put(self, item: Any) -> bool:
        return put_until_stopped(self._q, item, self._stop)

    def get(self, block: bool) -> Any:
        """The next Rendered sample, END when all are done, or EMPTY if none is ready."""
        try:
            item = self._q.get(block=block)
        except queue.Empty:
            return EMPTY
        if isinstance(item, _Failure):
            raise RuntimeError(f"rendering failed: {item.error}") from item.error
        return item

    def ready(self) -> int:
        """Rendered samples waiting for the stepping thread."""
        return self._q.qsize()

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error
