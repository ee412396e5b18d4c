"""Dataset registry: `@register_dataset("name")` on a `BaseDataset` subclass."""

from __future__ import annotations

from collections.abc import Callable

from video_pipeline.data.base import BaseDataset
from video_pipeline.registry import Registry

DATASETS: Registry[type[BaseDataset]] = Registry("dataset", base_cls=BaseDataset)


def register_dataset(name: str) -> Callable[[type[BaseDataset]], type[BaseDataset]]:
    def register(cls: type[BaseDataset]) -> type[BaseDataset]:
        return DATASETS.add(name, cls)

    return register


def get_dataset_class(name: str) -> type[BaseDataset]:
    import video_pipeline.data  # noqa: F401  (built-ins register on import)

    return DATASETS.get(name)
