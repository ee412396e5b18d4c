"""Faults injected into real ranks, loaded through `run.plugins` and driven by env vars.

- VP_FAULT_HANG=<text>: the video reader blocks in native code (libc `pause`) and never
  returns for paths containing <text>.
- VP_FAULT_SEGV=<text>: the video reader dereferences a null pointer in native code
  for paths containing <text>: its process dies by a real SIGSEGV.
- VP_FAULT_STEP_SLEEP=<s>: each engine step takes <s> seconds longer (so a test can
  interrupt a run at a chosen point).
- VP_FAULT_STEP_FAIL=<n>: the engine's n-th step raises, as a dead engine does.
- VP_FAULT_NO_BUDGET=1: the token pre-check lets everything through, so the engine's
  own rejection of an over-long prompt is what a test sees.
- VP_FAULT_ENGINE_START_SLEEP=<s>: the rank's engine takes <s> seconds longer to start
  (as a large model's does on GPUs), so decodes finish long before anything takes them.
- VP_FAULT_TORN_WRITE=<n>: rank 0's n-th journal write stops half way through the line
  (flushed to disk), and the rank then waits to be killed.
"""

from __future__ import annotations

import ctypes
import json
import os
import threading
import time

import qwen_vl_utils.vision_process as vp

from video_pipeline.engine import vllm_engine
from video_pipeline.engine.vllm_engine import VllmEngine
from video_pipeline.io.journal import JournalWriter
from video_pipeline.runner.budget import TokenBudget


def _faulty_reader(read):
    hang = os.environ.get("VP_FAULT_HANG")
    segv = os.environ.get("VP_FAULT_SEGV")

    def reader(ele: dict) -> object:
        video = str(ele.get("video"))
        if hang and hang in video:
            ctypes.CDLL(None).pause()  # blocked in C until a signal: only a kill ends it
        if segv and segv in video:
            ctypes.string_at(0)  # reads address 0: SIGSEGV, as a decoder bug gives
        return read(ele)

    return reader  # no __wrapped__: install_reader must keep this wrapper


def _slow_or_failing_step(step):
    sleep = float(os.environ.get("VP_FAULT_STEP_SLEEP", "0"))
    fail_at = int(os.environ.get("VP_FAULT_STEP_FAIL", "0"))
    calls = [0]

    def patched(self):
        calls[0] += 1
        if fail_at and calls[0] >= fail_at:
            raise RuntimeError(f"simulated engine death at step {calls[0]}")
        if sleep:
            time.sleep(sleep)
        return step(self)

    return patched


def _slow_start(build_llm):
    delay = float(os.environ["VP_FAULT_ENGINE_START_SLEEP"])

    def patched(*args, **kwargs):
        time.sleep(delay)
        return build_llm(*args, **kwargs)

    return patched


def _torn_write(write):
    at = int(os.environ["VP_FAULT_TORN_WRITE"])
    calls = [0]

    def patched(self, record):
        calls[0] += 1
        if calls[0] < at or os.environ.get("RANK", "0") != "0":
            return write(self, record)
        line = (json.dumps(record.to_dict(), ensure_ascii=False, default=str) + "\n").encode()
        self._f.write(line[: len(line) // 2])
        self._f.flush()
        os.fsync(self._f.fileno())
        threading.Event().wait()  # killed here, mid-line

    return patched


if os.environ.get("VP_FAULT_HANG") or os.environ.get("VP_FAULT_SEGV"):
    for name in list(vp.VIDEO_READER_BACKENDS):
        vp.VIDEO_READER_BACKENDS[name] = _faulty_reader(vp.VIDEO_READER_BACKENDS[name])
if os.environ.get("VP_FAULT_STEP_SLEEP") or os.environ.get("VP_FAULT_STEP_FAIL"):
    VllmEngine.step = _slow_or_failing_step(VllmEngine.step)
if os.environ.get("VP_FAULT_TORN_WRITE"):
    JournalWriter.write = _torn_write(JournalWriter.write)
if os.environ.get("VP_FAULT_NO_BUDGET"):
    TokenBudget.check = TokenBudget.measure
if os.environ.get("VP_FAULT_ENGINE_START_SLEEP"):
    vllm_engine.build_llm = _slow_start(vllm_engine.build_llm)
