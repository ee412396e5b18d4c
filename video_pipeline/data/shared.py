"""Several tasks over the same rows: each video decoded once for every task pending on it.

The rank's decode workers read this dataset. Each item is a `Prepared` sample naming
the tasks it serves (indices into the task list) with one engine input per task. The
base recipe makes it directly (`BaseDataset.prepare`); a dataset with its own
`__getitem__` (the seed's contract) is called per task and its items read into one.
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
        self.shared = _can_share(datasets)  # also one task: no seed item in between
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
            served = [self.datasets[j] for j in todo]
            item = self.datasets[0].prepare(i, [d.task for d in served], served)
            item.tasks = todo
            return item
        return self._one_by_one(i, todo)

    def _one_by_one(self, i: int, todo: list[int]) -> Prepared:
        """Each task's own `__getitem__` (the seed's items); the first error stands for
        the sample."""
        items = [Prepared.from_item(i, self.datasets[j][i], [j]) for j in todo]
        first = items[0]
        out = Prepared(i, first.key, first.raw, todo)
        out.decode_s = sum(it.decode_s for it in items)
        out.decodes = len(items)
        figures = [it.decode_stats for it in items if it.decode_stats is not None]
        if figures:  # one process decoded them all: its peak RSS is the largest
            out.decode_stats = {
                k: max(f[k] for f in figures)
                if k in ("pid", "peak_rss_mb", "out_mb")
                else sum(f[k] for f in figures)
                for k in figures[0]
            }
        bad = next((it for it in items if it.error is not None), None)
        if bad is not None:
            out.error = bad.error
        else:
            out.inputs = [_the_input(it) for it in items]
        return out


def _the_input(item: Prepared) -> dict[str, Any]:
    if not item.inputs:  # an item with neither an input nor an error
        raise KeyError("llm_input")
    return item.inputs[0]


def _can_share(datasets: list[Any]) -> bool:
    """One decode serves all only through the base recipe, with datasets of one decode
    kind (one class, or any that read the row's video file alike) and equal params."""
    first = datasets[0]
    kinds = {decode_kind(type(d)) for d in datasets}
    return (
        _base_recipe(type(first))
        and len(kinds) == 1
        and all(d.params == first.params for d in datasets)
    )


SHARED_KIND = "video file"


def decode_kind(cls: type) -> str:
    """Datasets of one kind can share a decode of each sample. Those that read a row's
    video file through the base recipe are one kind (`qwen_video` frames and audio,
    `audio` soundtracks); any other is its own."""
    base = BaseDataset
    if _base_recipe(cls) and cls.video_uri is base.video_uri and cls.video_url is base.video_url:
        return SHARED_KIND
    return f"{cls.__module__}.{cls.__qualname__}"


def _base_recipe(cls: type) -> bool:
    return (
        issubclass(cls, BaseDataset)
        and cls.__getitem__ is BaseDataset.__getitem__
        and cls.prepare is BaseDataset.prepare
    )
