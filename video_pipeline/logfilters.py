"""Libraries' per-video log lines kept out of a run's log, and vLLM's log in its stream.

In a clip run most lines of a job's log were qwen_vl_utils' per-video INFO lines (the
reader's threads, each video's path and frame range) and vLLM's CPU worker repeating
that `torch.set_num_threads` is skipped: they hid the progress lines. They go to the
DEBUG level (shown with `VP_LOG_LEVEL=DEBUG`), repeats are shown once, and qwen_vl_utils'
"use torchvision as default" warning is dropped: the project's reader hook never falls
back (data/video_reader.py), it reports the chosen reader's own error instead.
"""

from __future__ import annotations

import logging
import os

# Loggers whose INFO lines are one per video.
PER_VIDEO = ("qwen_vl_utils", "qwen_vl_utils.vision_process")
# Messages that say nothing new after the first time.
ONCE = {"vllm.v1.worker.cpu_worker": ("doesn't allow to use `torch.set_num_threads`",)}
NO_FALLBACK = "use torchvision as default"


def debug_wanted() -> bool:
    return os.environ.get("VP_LOG_LEVEL", "").upper() == "DEBUG"


class _PerVideo(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if NO_FALLBACK in record.getMessage():
            return False
        return record.levelno >= logging.WARNING or debug_wanted()


class _Once(logging.Filter):
    def __init__(self, fragments: tuple[str, ...]) -> None:
        super().__init__()
        self.fragments = fragments
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for fragment in self.fragments:
            if fragment in message:
                if fragment in self.seen:
                    return False
                self.seen.add(fragment)
        return True


def quiet_library_logs() -> None:
    """Install the filters (idempotent); call before the libraries log."""
    for name in PER_VIDEO:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _PerVideo) for f in logger.filters):
            logger.addFilter(_PerVideo())
    for name, fragments in ONCE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Once) for f in logger.filters):
            logger.addFilter(_Once(fragments))
    # vLLM logs to stdout by default and the pipeline to stderr: a job's log, which
    # takes both, then showed them out of order (stdout is block-buffered in a file).
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
