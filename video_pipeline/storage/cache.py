"""The local cache remote videos are fetched into, bounded by bytes, one per rank.

A video's file is named by a hash of its URL, so a decode worker (forked from the rank)
finds what the rank's prefetch threads fetched without being told. A fetch writes a
temp file and renames it (io/atomic.py), so a killed run never leaves a truncated video
that looks fetched; a new run of the rank starts from an empty folder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from video_pipeline.config.schema import StorageConfig
from video_pipeline.errors import SampleError, describe_exception
from video_pipeline.io.atomic import Staged
from video_pipeline.storage.urls import classify, filesystem, retryable

log = logging.getLogger("video_pipeline")


@dataclass
class FetchStats:
    fetches: int = 0
    fetched_bytes: int = 0
    fetch_s: float = 0.0  # summed over prefetch threads
    cache_hits: int = 0  # samples whose video another sample fetched (clips of one video)
    retries: int = 0


class FetchCache:
    def __init__(self, storage: StorageConfig, folder: Path) -> None:
        self.storage = storage
        self.folder = Path(folder)
        shutil.rmtree(self.folder, ignore_errors=True)  # what a killed run left
        self.folder.mkdir(parents=True, exist_ok=True)
        self.bound = int(storage.cache_gb * 2**30)
        self.stats = FetchStats()
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}  # url -> bytes on disk or being fetched

    @classmethod
    def for_rank(cls, storage: StorageConfig, output_jsonl: str, rank: int | str) -> FetchCache:
        """The rank's own folder under `storage.cache_dir` (`rank` may also name another
        user, as "preflight"): two runs on one machine, or two ranks, never evict each
        other's files."""
        root = Path(storage.cache_dir or Path(tempfile.gettempdir()) / "video-pipeline-cache")
        run = hashlib.sha256(str(Path(output_jsonl).resolve()).encode()).hexdigest()[:12]
        who = f"rank{rank}" if isinstance(rank, int) else rank
        return cls(storage, root.expanduser() / f"{run}-{who}")

    def path_for(self, url: str) -> Path:
        suffix = PurePosixPath(urlparse(url).path).suffix[:8]
        return self.folder / (hashlib.sha256(url.encode()).hexdigest()[:24] + suffix)

    @property
    def held_bytes(self) -> int:
        with self._lock:
            return sum(self._held.values())

    def reserve(self, url: str, size: int) -> bool:
        """Hold `size` bytes for `url` if they fit; an empty cache takes any one video."""
        with self._lock:
            held = sum(self._held.values())
            if held and held + size > self.bound:
                return False
            self._held[url] = size
            return True

    def size_of(self, url: str) -> int:
        """The object's size (a HEAD or a stat); raises SampleError."""
        fs, path = filesystem(url, self.storage)
        info = retrying(lambda: fs.info(path), url, self.storage, self.stats)
        return int(info.get("size") or 0)

    def fetch(self, url: str, size: int = 0) -> Path:
        """Fetch `url` into the cache (retried with backoff); raises SampleError."""
        target = self.path_for(url)
        with self._lock:
            self._held.setdefault(url, size)
        fs, path = filesystem(url, self.storage)
        # not durable: the folder is emptied when the rank starts again
        staged = Staged(target, durable=False)
        t0 = time.perf_counter()
        try:
            with staged:
                retrying(lambda: fs.get_file(path, str(staged.tmp)), url, self.storage, self.stats)
                staged.commit()
        except BaseException:
            with self._lock:
                self._held.pop(url, None)
            raise
        got = target.stat().st_size
        with self._lock:
            self._held[url] = got
            self.stats.fetches += 1
            self.stats.fetched_bytes += got
            self.stats.fetch_s += time.perf_counter() - t0
        return target

    def evict(self, url: str) -> None:
        with self._lock:
            self._held.pop(url, None)
        self.path_for(url).unlink(missing_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def retrying(call, url: str, storage: StorageConfig, stats: FetchStats | None = None):
    """`call()`, tried again with exponential backoff while it fails in a way worth
    another try (`urls.retryable`); a final failure is raised as a SampleError."""
    from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

    def note(state) -> None:
        if stats is not None:
            stats.retries += 1
        log.warning(
            "fetching %s failed (try %d of %d), retrying: %s",
            url,
            state.attempt_number,
            storage.retries + 1,
            describe_exception(state.outcome.exception()),
        )

    try:
        for attempt in Retrying(
            retry=retry_if_exception(retryable),
            stop=stop_after_attempt(storage.retries + 1),
            wait=wait_exponential(multiplier=0.5, max=10),
            before_sleep=note,
            reraise=True,
        ):
            with attempt:
                return call()
    except SampleError:
        raise
    except Exception as e:
        raise classify(e, url) from None
    raise AssertionError("unreachable")


_active: FetchCache | None = None


def activate(cache: FetchCache | None) -> None:
    """The cache of this process (and of the decode workers it forks)."""
    global _active
    _active = cache


def local_copy(url: str, storage: StorageConfig | None = None) -> str:
    """The local file of a remote video: the rank's prefetched copy, or fetched here
    (a dataset used outside a rank: bench, preflight, a notebook)."""
    cache = _active
    if cache is None:
        folder = Path(tempfile.gettempdir()) / "video-pipeline-cache" / f"pid{os.getpid()}"
        cache = FetchCache(storage or StorageConfig(), folder)
        activate(cache)
    target = cache.path_for(url)
    if target.exists():
        return str(target)
    return str(cache.fetch(url))
