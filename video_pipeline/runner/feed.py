"""Decoding in worker processes that a crash or a hang cannot take the rank down with.

Each sample is prepared by `dataset[i]` (the dataset's `__getitem__`: qwen_vl_utils'
decode and the prompt) in one of `workers` forked processes. Decoders die in native
code on some files (a SIGSEGV in FFmpeg or decord, an abort, the OOM killer): then
only that sample is lost, as a `decode_crash` record naming the signal or exit code,
and a new worker takes the dead one's place. A decode past `run.decode_timeout_s` has
its worker killed, which frees its memory and its file.

Items (`Prepared` records) reach the rank in the order their decodes finish, not input
order, so one slow video holds back nothing else. With a ByteGate, no new sample is
given to a worker while the rank holds more decoded bytes than its bound. Tensors
cross from the workers through shared memory (torch registers its reductions with
multiprocessing's pickler, as for DataLoader workers), so frames are not copied through
the pipe.

Why not a library pool: pebble (5.2) shares one task pipe among its workers and learns
which task a worker runs from an acknowledgement read by another thread, so a worker
that dies right after taking a task is not matched to it; with two crashing samples
among twelve its pool broke every time ("All workers expired"), and the task can also
be lost. concurrent.futures and loky break the whole pool on one crash. Here each
worker has its own pipe and runs one sample at a time, so a death is always the death
of a known sample.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection as mpc
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

from video_pipeline.data.sample import Prepared
from video_pipeline.errors import SampleError, describe_exception, record_error
from video_pipeline.io.jsonl import shown
from video_pipeline.runner.memory import ByteGate, tensor_bytes
from video_pipeline.runner.queues import put_until_stopped
from video_pipeline.runner.threads import pin_here
from video_pipeline.storage.prefetch import END as PREFETCH_END
from video_pipeline.storage.prefetch import Failed, Prefetcher

log = logging.getLogger("video_pipeline")

END = object()
EMPTY = object()

_CTX = multiprocessing.get_context("fork")  # workers inherit the dataset, nothing pickled
_in_worker = False


def in_decode_worker() -> bool:
    """True in a decode worker process (as `torch.utils.data.get_worker_info()` is for
    DataLoader workers)."""
    return _in_worker


@dataclass(frozen=True)
class WorkerSetup:
    """Where a decode worker runs and with how many FFmpeg threads."""

    reader: str | None = None
    cores: frozenset[int] | None = None
    codec_threads: int | None = None


def _worker_main(conn: mpc.Connection, dataset: Any, setup: WorkerSetup) -> None:
    from video_pipeline.cli.lifeline import die_with_parent

    global _in_worker
    _in_worker = True
    die_with_parent()  # a worker never outlives its rank
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the rank's to handle
    import torch

    # As in DataLoader workers: the parent's OpenMP pool does not survive the fork (a
    # parallel op in the child can crash), and parallelism comes from the workers.
    torch.set_num_threads(1)
    pin_here(setup.cores)  # off the engine's cores
    if setup.codec_threads:
        os.environ["TORCHCODEC_NUM_THREADS"] = str(setup.codec_threads)  # read per decode
    if setup.reader is not None:
        from video_pipeline.data.video_reader import install_reader

        install_reader(setup.reader)
    while True:
        try:
            i = conn.recv()
        except EOFError:
            return
        if i is None:
            return
        try:
            item = dataset[i]
        except Exception as e:  # a dataset whose __getitem__ raises: the setup's fault
            item = _Raised(describe_exception(e))
        conn.send(item)


def _tasks_of(dataset: Any, i: int) -> list[int]:
    tasks_of = getattr(dataset, "tasks_of", None)
    return tasks_of(i) if tasks_of is not None else [0]


@dataclass
class _Raised:
    message: str


class _Worker:
    def __init__(self, dataset: Any, setup: WorkerSetup) -> None:
        self.conn, child = _CTX.Pipe(duplex=True)
        self.process = _CTX.Process(
            target=_worker_main, args=(child, dataset, setup), name="decode", daemon=True
        )
        self.process.start()
        child.close()
        self.index: int | None = None  # the sample it decodes, None when idle
        self.since = 0.0

    def give(self, i: int) -> None:
        self.conn.send(i)
        self.index, self.since = i, time.monotonic()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=10)
        self.conn.close()


class DecodeFeed:
    """Prepares every sample of `dataset` in `workers` processes.

    `get()` returns items in completion order, then END; at most `maxsize` finished
    items wait to be taken. Workers start here, before the caller builds its engine.
    """

    def __init__(
        self,
        dataset: Any,
        workers: int,
        timeout_s: float | None,
        maxsize: int,
        reader: str | None = None,
        gate: ByteGate | None = None,
        cores: set[int] | None = None,
        codec_threads: int | None = None,
        fetcher: Prefetcher | None = None,
    ) -> None:
        self.dataset = dataset
        self.fetcher = fetcher
        self.gate = gate
        self.setup = WorkerSetup(reader, frozenset(cores) if cores else None, codec_threads)
        self.timeout_s = timeout_s
        self.crashes = 0
        self.timeouts = 0
        self._todo = iter(range(len(dataset)))
        self._workers = [_Worker(dataset, self.setup) for _ in range(max(1, workers))]
        self._q: queue.Queue[Any] = queue.Queue(maxsize=max(1, maxsize))
        self._stop = threading.Event()
        self._exhausted = False
        self._thread = threading.Thread(target=self._pump, name="decode-feed", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            self._run()
        except BaseException as e:  # surfaced to the main loop, which stops the rank
            self._put(_Failure(e))
            return
        self._put(END)

    def _run(self) -> None:
        exhausted = False
        while not self._stop.is_set():
            room = self.gate is None or self.gate.wait_below(0)
            starved = False  # a worker is idle for want of a fetched video
            for w in list(self._workers):
                while w.index is None and not exhausted and room:
                    i = self._next_index()
                    if i is None:
                        starved = True
                        break
                    if i is END:
                        exhausted = True
                    elif isinstance(i, Failed):
                        failed = self._error_item(i.index, i.kind, i.message, fetched=False)
                        if not self._put(failed):
                            return
                    else:
                        self._give(w, i)
            busy = [w for w in self._workers if w.index is not None]
            wakeup = [self.fetcher.wakeup] if starved and self.fetcher is not None else []
            if not busy:
                if exhausted:
                    return
                if wakeup:
                    mpc.wait(wakeup, timeout=0.5)
                elif self.gate is not None:  # over the memory bound: wait for finished samples
                    self.gate.wait_below(0.5)
                continue
            waits = [w.conn for w in busy] + [w.process.sentinel for w in busy] + wakeup
            mpc.wait(waits, timeout=self._wait_s(busy))
            for w in busy:
                # Asked afresh for each worker: handing on an item can block for long
                # (nothing takes items until the engine is built), and a worker that
                # finished meanwhile must be collected, not timed out for that wait.
                if self._finished(w):
                    if not self._collect(w):
                        return
                elif w.index is not None and self._overdue(w):
                    self.timeouts += 1
                    if not self._replace(w, self._timeout_item(w.index)):
                        return

    def _next_index(self) -> Any:
        """The next sample to decode, END, a fetch failure, or None (none fetched yet)."""
        if self.fetcher is None:
            i = next(self._todo, None)
            return END if i is None else i
        item = self.fetcher.take()
        if isinstance(item, Failed) and item.index < 0:
            raise RuntimeError(item.message)
        return END if item is PREFETCH_END else item

    def _give(self, w: _Worker, i: int) -> None:
        try:
            w.give(i)
        except OSError:  # it died while idle (the OOM killer picks any process)
            w.kill()
            fresh = _Worker(self.dataset, self.setup)
            self._workers[self._workers.index(w)] = fresh
            fresh.give(i)

    def _wait_s(self, busy: list[_Worker]) -> float:
        if self.timeout_s is None:
            return 0.5
        left = min(w.since + self.timeout_s - time.monotonic() for w in busy)
        return max(0.01, min(0.5, left))

    def _overdue(self, w: _Worker) -> bool:
        return self.timeout_s is not None and time.monotonic() - w.since > self.timeout_s

    @staticmethod
    def _finished(w: _Worker) -> bool:
        """Worker w sent its item (or died): its decode is over, however late we look."""
        return w.conn.poll() or not w.process.is_alive()

    def _collect(self, w: _Worker) -> bool:
        """Take worker w's finished item, or its death; False when stopping."""
        i = w.index
        assert i is not None
        if w.conn.poll():
            try:
                item = w.conn.recv()
            except (EOFError, OSError):
                item = None  # died while sending: a crash like any other
            if item is not None:
                w.index = None
                self._decoded(i)
                if isinstance(item, _Raised):
                    item = self._error_item(i, "internal_error", item.message)
                elif self.gate is not None:
                    self.gate.hold(i, tensor_bytes(item))
                return self._put(item)
        if w.process.is_alive():
            return True  # woken by something else; keep waiting for it
        w.process.join()
        self.crashes += 1
        return self._replace(
            w, self._error_item(i, "decode_crash", describe_exit(w.process.exitcode))
        )

    def _decoded(self, i: int) -> None:
        if self.fetcher is not None:
            self.fetcher.done(i)  # its fetched video may go

    def _replace(self, w: _Worker, item: Prepared) -> bool:
        if w.index is not None:
            self._decoded(w.index)
        w.index = None
        w.kill()
        self._workers[self._workers.index(w)] = _Worker(self.dataset, self.setup)
        return self._put(item)

    def _put(self, item: Any) -> bool:
        return put_until_stopped(self._q, item, self._stop)

    def _timeout_item(self, i: int) -> Prepared:
        message = (
            f"decoding took longer than run.decode_timeout_s={self.timeout_s:g} s; "
            "its worker process was killed"
        )
        return self._error_item(i, "decode_timeout", message)

    def _error_item(self, i: int, kind: str, message: str, fetched: bool = True) -> Prepared:
        """An error item for sample i, whose worker returned nothing (or which never
        reached one: its video could not be fetched)."""
        if not fetched:
            self._decoded(i)
        key, raw = identify(self.dataset, i)
        log.warning("sample %s: %s: %s", shown(str(key)), kind, message)
        # every task waiting for the sample loses it
        return Prepared(i, key, raw, _tasks_of(self.dataset, i), error=record_error(kind, message))

    def get(self, block: bool) -> Any:
        """The next item, END when the input is exhausted (to every caller from then on,
        so several threads can drain the feed), or EMPTY if none is ready."""
        if self._exhausted:
            return END
        try:
            item = self._q.get(block=block)
        except queue.Empty:
            return EMPTY
        if isinstance(item, _Failure):
            raise RuntimeError(f"the decode workers failed: {item.error}") from item.error
        if item is END:
            self._exhausted = True
            self._q.put(END)  # wakes a thread blocked in get() meanwhile
        return item

    def ready(self) -> int:
        """Decoded items waiting to be taken."""
        return self._q.qsize()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for w in self._workers:
            w.kill()
        if self.fetcher is not None:
            self.fetcher.close()

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process.pid is not None]


def describe_exit(exitcode: int | None) -> str:
    """Why a decode worker ended, for the sample's error record."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (the kernel's OOM killer sends SIGKILL)" if -exitcode == signal.SIGKILL else ""
        return (
            f"the decoder process died by {name} (exit code {exitcode}) while decoding this "
            f"video{hint}"
        )
    return f"the decoder process exited with code {exitcode} while decoding this video"


def identify(dataset: Any, i: int) -> tuple[str | None, Any]:
    """Key and row of sample i, read again in this process without decoding anything."""
    samples = getattr(dataset, "samples", None)
    if samples is None:
        return None, None
    try:
        sample = samples[i]
    except SampleError as e:
        return getattr(e, "key", None), getattr(e, "raw", None)
    # a Sample, or what a user's dataset holds there: read through the seed's dict view
    return sample["__key"], sample["raw"]


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error
