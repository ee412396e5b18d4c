"""Import user modules named in `run.plugins` so their tasks and datasets register."""

from __future__ import annotations

import importlib


def load_plugins(modules: list[str]) -> None:
    import video_pipeline.tasks  # noqa: F401  (built-in tasks register on import)

    for name in modules:
        importlib.import_module(name)
