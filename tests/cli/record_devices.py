"""A `run.plugins` module that records the devices a torchrun rank was pinned to, then
ends the rank before any engine exists (tests of the GPU grouping on a machine
without GPUs). Driven by VP_RECORD_DEVICES=<folder>; does nothing outside ranks."""

from __future__ import annotations

import json
import os
from pathlib import Path

_KEYS = ("CUDA_VISIBLE_DEVICES", "VLLM_CPU_OMP_THREADS_BIND", "OMP_NUM_THREADS", "WORLD_SIZE")

if os.environ.get("VP_RECORD_DEVICES") and "RANK" in os.environ:
    out = Path(os.environ["VP_RECORD_DEVICES"]) / f"rank{os.environ['RANK']}.json"
    out.write_text(json.dumps({k: os.environ.get(k) for k in _KEYS}))
    os._exit(0)
