"""Logging of workflow steps into the rule's `log:` file."""

from __future__ import annotations

import logging
from pathlib import Path


def log_to(path: str | Path) -> None:
    """Send this process's `video_pipeline` log lines to `path` (appending)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        handlers=[logging.FileHandler(path)],
        force=True,
    )
