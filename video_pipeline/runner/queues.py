"""A put on a bounded queue that gives up when its producer is told to stop."""

from __future__ import annotations

import queue
import threading
from typing import Any


def put_until_stopped(
    q: queue.Queue[Any], item: Any, stop: threading.Event, poll_s: float = 0.5
) -> bool:
    """Put `item` on `q`, waiting while it is full; False, with the item dropped, once
    `stop` is set (a plain blocking put would hang a producer whose consumer is gone)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=poll_s)
            return True
        except queue.Full:
            continue
    return False
