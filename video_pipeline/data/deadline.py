"""A per-sample deadline on `__getitem__`, so that one hung decode cannot stall a rank.

The DataLoader's own `timeout` ends the whole iteration; here only the sample is lost.
Each item is prepared in a daemon thread; when it misses the deadline the thread is
abandoned and the sample becomes a `decode_timeout` error item. This works in DataLoader
workers and with `num_workers=0` alike. It relies on the hang releasing the GIL, which
the decoders do while they sit in native code (FFmpeg through torchcodec, decord's
ctypes calls) or wait on I/O; a hang in pure Python also yields the GIL.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import torch.utils.data

from video_pipeline.errors import SampleError, error_dict

log = logging.getLogger("video_pipeline")


class DecodeDeadline(torch.utils.data.Dataset):
    """Wraps a dataset; `timeout_s=None` calls it directly."""

    def __init__(self, dataset: torch.utils.data.Dataset, timeout_s: float | None) -> None:
        self.dataset = dataset
        self.timeout_s = timeout_s
        self.abandoned = 0  # hung threads left behind in this process

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> dict[str, Any]:
        if self.timeout_s is None:
            return self.dataset[i]
        box: list[Any] = []
        t0 = time.perf_counter()
        worker = threading.Thread(target=self._fill, args=(box, i), name=f"decode-{i}", daemon=True)
        worker.start()
        worker.join(self.timeout_s)
        if not worker.is_alive():
            item = box[0]
            if isinstance(item, BaseException):
                raise item
            return item
        self.abandoned += 1
        log.warning(
            "decode of sample %d exceeded run.decode_timeout_s=%g s; abandoned (%d so far)",
            i,
            self.timeout_s,
            self.abandoned,
        )
        key, raw = self._identify(i)
        message = (
            f"decoding took longer than run.decode_timeout_s={self.timeout_s:g} s and was abandoned"
        )
        item = {"__key": key, "raw": raw, "error": error_dict("decode_timeout", message)}
        item["decode_s"] = time.perf_counter() - t0
        tasks_of = getattr(self.dataset, "tasks_of", None)
        if tasks_of is not None:  # the tasks the sample was prepared for all lose it
            item["tasks"] = tasks_of(i)
        return item

    def _fill(self, box: list[Any], i: int) -> None:
        try:
            box.append(self.dataset[i])
        except BaseException as e:  # re-raised in the caller's thread
            box.append(e)

    def _identify(self, i: int) -> tuple[str | None, Any]:
        """Key and row of sample i, read again without decoding anything."""
        samples = getattr(self.dataset, "samples", None)
        if samples is None:
            return None, None
        try:
            sample = samples[i]
        except SampleError as e:
            return getattr(e, "key", None), getattr(e, "raw", None)
        return sample["__key"], sample["raw"]
