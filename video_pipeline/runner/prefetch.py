"""Decoded samples flow from the DataLoader to the engine through a bounded queue.

A thread pulls batches so the main loop can take a sample without blocking while the
engine has work, and block only when the engine would otherwise sit idle.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

END = object()
EMPTY = object()


class Prefetcher:
    def __init__(self, loader: Iterable[list[dict[str, Any]]], maxsize: int) -> None:
        # Take the iterator here, in the caller's thread: DataLoader workers are forked
        # now, before the engine exists (forking after an in-process engine kills them).
        self._it: Iterator[list[dict[str, Any]]] = iter(loader)
        self._q: queue.Queue[Any] = queue.Queue(maxsize=max(1, maxsize))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="prefetch", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for batch in self._it:
                for item in batch:
                    while not self._stop.is_set():
                        try:
                            self._q.put(item, timeout=0.5)
                            break
                        except queue.Full:
                            continue
                    if self._stop.is_set():
                        return
        except BaseException as e:  # surfaced to the main loop, which stops the rank
            self._q.put(_Failure(e))
            return
        self._q.put(END)

    def get(self, block: bool) -> Any:
        """The next item, END when the input is exhausted, or EMPTY if none is ready."""
        try:
            item = self._q.get(block=block)
        except queue.Empty:
            return EMPTY
        if isinstance(item, _Failure):
            raise RuntimeError(f"the data loader failed: {item.error}") from item.error
        return item

    def close(self) -> None:
        self._stop.set()
        shutdown = getattr(self._it, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error
