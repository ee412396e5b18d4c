"""The bytes a rank holds for samples decoded but not finished, bounded.

A count of requests says little about memory: 128 queued 16-megapixel videos are
about 6 GB of uint8 frames, before the model's processor makes its float copy. Each
sample's tensors are counted from the moment its decode arrives until its last
request finishes; decode workers get no new sample while the total is over
`run.max_in_flight_mb`. The bound is soft by at most what the workers are decoding
at that moment (one sample each).
"""

from __future__ import annotations

import threading
from typing import Any

import torch

MB = 2**20


def tensor_bytes(obj: Any, _depth: int = 0) -> int:
    """Bytes of the tensors and arrays inside `obj` (dicts, lists, tuples, objects)."""
    if isinstance(obj, torch.Tensor):
        return obj.element_size() * obj.nelement()
    nbytes = getattr(obj, "nbytes", None)
    if isinstance(nbytes, int) and hasattr(obj, "dtype"):  # numpy arrays
        return nbytes
    if _depth > 8:  # a soundtrack window's samples sit 8 deep in a sample's Parts
        return 0
    if isinstance(obj, dict):
        return sum(tensor_bytes(v, _depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v, _depth + 1) for v in obj)
    fields = getattr(obj, "__dict__", None)
    if isinstance(fields, dict) and not isinstance(obj, type):
        return sum(tensor_bytes(v, _depth + 1) for v in fields.values())
    return 0


class ByteGate:
    """Bytes held per sample; `full` while the total is at or over the limit."""

    def __init__(self, limit_mb: float | None) -> None:
        self.limit = None if limit_mb is None else int(limit_mb * MB)
        self._held: dict[Any, int] = {}
        self._total = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)

    def hold(self, sample: Any, nbytes: int) -> None:
        with self._lock:
            self._held[sample] = self._held.get(sample, 0) + nbytes
            self._total += nbytes
            self.peak = max(self.peak, self._total)

    def release(self, sample: Any) -> None:
        with self._lock:
            self._total -= self._held.pop(sample, 0)
            self._freed.notify_all()

    def wait_below(self, timeout: float) -> bool:
        """Wait up to `timeout` for room; True when under the limit."""
        with self._lock:
            if self.limit is None or self._total < self.limit:
                return True
            self._freed.wait(timeout)
            return self._total < self.limit

    @property
    def total(self) -> int:
        return self._total
