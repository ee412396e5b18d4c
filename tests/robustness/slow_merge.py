"""The merge CLI with a pause half way through writing its output, for kill tests.

    VP_MERGE_PAUSED=<marker file> python -m tests.robustness.slow_merge --config X

After a few lines of the new output are written (and flushed), the marker file is
created and the process waits to be killed.
"""

from __future__ import annotations

import builtins
import os
import sys
import threading
from pathlib import Path

import video_pipeline.io.atomic as atomic_module
from video_pipeline.cli.merge import main

_open = builtins.open


class _PausingFile:
    def __init__(self, f, after: int) -> None:
        self._f = f
        self._left = after

    def write(self, data: bytes) -> int:
        n = self._f.write(data)
        self._left -= 1
        if self._left == 0:
            self._f.flush()
            os.fsync(self._f.fileno())
            Path(os.environ["VP_MERGE_PAUSED"]).touch()
            threading.Event().wait()  # killed here
        return n

    def __getattr__(self, name: str):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._f.close()


def _pausing_open(path, mode="r", *args, **kwargs):
    f = _open(path, mode, *args, **kwargs)
    name = Path(path).name
    if "w" in mode and ".tmp" in name and ".errors." not in name:
        return _PausingFile(f, after=3)
    return f


# shadows the builtin inside io.atomic only, where merge opens its temp files
atomic_module.open = _pausing_open

if __name__ == "__main__":
    sys.exit(main())
