"""Several tasks over the same rows: each video decoded once for every task pending on it.

The rank's decode workers read this dataset. Each item is a `Prepared` record naming
the tasks it serves (indices into the task list) with one engine input per task; with
one task it holds the task's dataset item (the seed's `__getitem__`) as is.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch.utils.data

from video_pipeline.data.base import BaseDataset
from video_pipeline.data.sample import Prepared

log = logging.getLogger("video_pipeline")


class SharedDecode(torch.utils.data.Dataset):
    """`datasets[j]` serves task j; `pending[i, j]` says sample i still needs task j."""

    def __init__(self, datasets: list[Any], pending: np.ndarray) -> None:
        self.datasets = datasets
        self.pending = pending
        self.samples = datasets[0].samples  # read by DecodeDeadline to name a hung sample
        self.shared = len(datasets) > 1 and _can_share(datasets)
        if len(datasets) > 1 and not self.shared:
            log.warning(
                "dataset %s defines its own __getitem__: each task decodes its own copy "
                "of every video",
                type(datasets[0]).__name__,
            )

    def __len__(self) -> int:
        return len(self.pending)

    def tasks_of(self, i: int) -> list[int]:
        return [int(j) for j in np.flatnonzero(self.pending[i])]

    def __getitem__(self, i: int) -> Prepared:
        todo = self.tasks_of(i)
        if self.shared:
            item = self.datasets[0].prepare(i, [self.datasets[j].task for j in todo])
        else:
            item = self._one_by_one(i, todo)
        return Prepared.from_item(i, item, todo)

    def _one_by_one(self, i: int, todo: list[int]) -> dict[str, Any]:
        """Each task's own `__getitem__`; the first error stands for the sample."""
        items = [self.datasets[j][i] for j in todo]
        first = items[0]
        out = {"__key": first.get("__key"), "raw": first.get("raw")}
        out["decode_s"] = sum(it.get("decode_s", 0.0) for it in items)
        out["decodes"] = len(items)
        figures = [it["decode_stats"] for it in items if "decode_stats" in it]
        if figures:  # one process decoded them all: its peak RSS is the largest
            out["decode_stats"] = {
                k: max(f[k] for f in figures)
                if k in ("pid", "peak_rss_mb")
                else sum(f[k] for f in figures)
                for k in figures[0]
            }
        bad = next((it for it in items if "error" in it), None)
        if bad is not None:
            out["error"] = bad["error"]
        else:
            out["llm_inputs"] = [it["llm_input"] for it in items]
        return out


def _can_share(datasets: list[Any]) -> bool:
    """One decode serves all only through the base recipe, with equal settings."""
    first = datasets[0]
    cls = type(first)
    return (
        isinstance(first, BaseDataset)
        and cls.__getitem__ is BaseDataset.__getitem__
        and cls.prepare is BaseDataset.prepare
        and all(type(d) is cls and d.params == first.params for d in datasets)
    )
