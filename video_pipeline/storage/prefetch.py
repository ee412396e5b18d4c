"""Fetching a rank's remote videos ahead of its decode workers.

`storage.prefetch` threads fetch in input order while the cache has room; a sample is
handed to the decode feed once its video is on local disk, so decode workers read local
files and never wait on the network while bandwidth keeps up. Several samples of one
video (its clips) share one fetch; the file is evicted when the last of them is decoded.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from video_pipeline.config.schema import Config
from video_pipeline.errors import SampleError
from video_pipeline.storage.cache import FetchCache, activate

END = object()
LOOKAHEAD = 256  # samples ready ahead of the decode workers


@dataclass
class Failed:
    """Sample `index` cannot be decoded: its video could not be fetched."""

    index: int
    kind: str
    message: str


@dataclass
class _Video:
    indices: list[int]
    left: int  # samples not yet decoded
    fetched: bool = False
    failed: Failed | None = None


class Prefetcher:
    """Yields sample indices whose video is local (or was never remote), in the order
    fetches finish; `done(i)` once sample i is decoded lets its file go."""

    def __init__(
        self, n: int, url_of: Callable[[int], str | None], cache: FetchCache, threads: int
    ) -> None:
        self.cache = cache
        self._url_of = url_of
        self._n = n
        self._threads = threads
        self._ready: list[int | Failed] = []
        self._cv = threading.Condition()
        self._room = threading.Condition()
        self._videos: dict[str, _Video] = {}
        self._url_by_index: dict[int, str] = {}
        self._stop = threading.Event()
        self._finished = False
        # Woken on each ready sample, so the feed can wait on it beside its workers.
        self.wakeup, self._wake_w = socket.socketpair()
        self.wakeup.setblocking(False)
        self._wake_w.setblocking(False)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="fetch")
        self._slots = threading.Semaphore(threads)
        self._thread = threading.Thread(target=self._plan, name="prefetch", daemon=True)
        self._thread.start()

    def _plan(self) -> None:
        try:
            self._schedule()
        except Exception as e:  # reading rows failed: the rank must not hang on it
            self._push(Failed(-1, "internal_error", f"prefetch failed: {e!r}"))
        finally:
            with self._cv:
                self._finished = True
                self._cv.notify_all()
            self._wake()

    def _schedule(self) -> None:
        """Rows in order: a video seen before (the next clip) joins its fetch; a new
        one waits for a free fetch thread, which also bounds how far ahead rows are read."""
        for i in range(self._n):
            if self._stop.is_set():
                return
            with self._cv:  # rows are read just ahead of the decoders, not all at once
                while len(self._ready) >= LOOKAHEAD and not self._stop.is_set():
                    self._cv.wait(0.5)
            url = self._url_of(i)
            if url is None:
                self._push(i)  # local, or a bad row: the decode worker reports it
                continue
            with self._cv:
                self._url_by_index[i] = url
                video = self._videos.get(url)
                if video is not None and video.left > 0:
                    video.indices.append(i)
                    video.left += 1
                    self.cache.stats.cache_hits += 1  # one fetch for several samples
                    if video.fetched:
                        self._ready.append(i)
                    elif video.failed is not None:
                        self._ready.append(Failed(i, video.failed.kind, video.failed.message))
                    self._cv.notify_all()
                    continue
                self._videos[url] = _Video([i], 1)
            self._slots.acquire()
            if self._stop.is_set():
                return
            self._pool.submit(self._fetch, url)
        for _ in range(self._threads):  # every fetch has ended
            self._slots.acquire()

    def _fetch(self, url: str) -> None:
        video = self._videos[url]
        failed: Failed | None = None
        try:
            size = self.cache.size_of(url)
            with self._room:
                while not self.cache.reserve(url, size) and not self._stop.is_set():
                    self._room.wait(0.5)
            if self._stop.is_set():
                return
            self.cache.fetch(url, size)
        except SampleError as e:
            failed = Failed(-1, e.kind, e.message)
        except Exception as e:  # a bug here must not lose the samples silently
            failed = Failed(-1, "internal_error", f"prefetch failed: {e!r}")
        finally:
            self._slots.release()
        with self._cv:
            if failed is None:
                video.fetched = True
                self._ready.extend(video.indices)
            else:
                video.failed = failed
                self._ready.extend(Failed(i, failed.kind, failed.message) for i in video.indices)
            self._cv.notify_all()
        self._wake()

    def _push(self, item: int | Failed) -> None:
        with self._cv:
            self._ready.append(item)
            self._cv.notify_all()
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # closed, or full of earlier wake-ups
            self._wake_w.send(b"x")

    def take(self) -> int | Failed | object | None:
        """The next ready sample, END when every sample was handed out, or None."""
        try:
            while self.wakeup.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
        with self._cv:
            if self._ready:
                self._cv.notify_all()  # room in the lookahead
                return self._ready.pop(0)
            return END if self._finished else None

    def wait(self, timeout: float) -> None:
        with self._cv:
            if not self._ready and not self._finished:
                self._cv.wait(timeout)

    def done(self, i: int) -> None:
        """Sample i was decoded (or failed): its video's file goes with its last sample."""
        url = self._url_by_index.get(i)
        if url is None:
            return
        with self._cv:
            video = self._videos[url]
            video.left -= 1
            last = video.left == 0
        if last:
            self.cache.evict(url)
            with self._room:
                self._room.notify_all()

    def close(self) -> None:
        self._stop.set()
        with self._room:
            self._room.notify_all()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._thread.join(timeout=5)
        self.wakeup.close()
        self._wake_w.close()
        self.cache.close()


def prefetcher_for(cfg: Config, rank: int | str, samples: Any, dataset: Any) -> Prefetcher:
    """The prefetcher of a rank's samples, with the rank's own cache made this process's
    (decode workers are forked after this, so they find it); local videos pass through."""
    cache = FetchCache.for_rank(cfg.storage, cfg.data.output_jsonl, rank)
    activate(cache)
    video_url = getattr(dataset, "video_url", None)

    def url_of(i: int) -> str | None:
        if video_url is None:
            return None
        try:
            return video_url(samples[i].video)
        except SampleError:
            return None  # a bad row: its decode worker reports it

    return Prefetcher(len(samples), url_of, cache, cfg.storage.prefetch)
