"""Counters of one rank, periodic progress lines with rate and ETA, the final stats."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from video_pipeline.io.atomic import write_json

log = logging.getLogger("video_pipeline")


@dataclass
class RankStats:
    rank: int
    world_size: int
    task: str
    fingerprint: str
    total: int = 0  # rows in this rank's slice
    todo: int = 0  # rows left after skipping
    done: int = 0
    failed: int = 0
    # samples the engine answered (ok or not): the rate an ETA can trust, since rows
    # that fail before the engine (bad rows, missing files) finish in no time
    answered: int = 0
    skipped_done: int = 0
    skipped_duplicate: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    cached_tokens: int = 0
    decode_s: float = 0.0  # summed over samples, in decode workers
    # Decode cost: the workers' CPU seconds (FFmpeg threads included) and the seconds
    # of video their sampled ranges cover, each split between the tasks of a shared
    # decode as decode_s is; frames kept (sent to the model) and decoded (kept plus
    # the frames decoded on the way to them), counted in each task as `decodes` is.
    decode_cpu_s: float = 0.0
    video_s: float = 0.0
    frames_kept: int = 0
    frames_decoded: int = 0
    # each decode worker's peak RSS growth over its start (MiB), by pid: what the
    # decodes themselves held at most (frames.py's bound: output bytes + 0.5 GB)
    decode_workers_peak_rss_mb: dict[str, float] = field(default_factory=dict)
    # and the largest output (uint8 frames, MiB) each of them returned
    decode_workers_out_mb: dict[str, float] = field(default_factory=dict)
    render_s: float = 0.0  # the model's processor over the frames, in render threads
    # The stepping thread's wall time (loop_s): inside engine.step() (engine_s), adding
    # rendered requests (add_s), idle waiting for input (wait_s), and the rest (other_s:
    # parsing and journaling answers). Shared by the tasks of one rank.
    engine_s: float = 0.0
    # the stepping thread's own CPU time in step(): close to engine_s means the engine's
    # host side (scheduling, sampling, detokenizing) bounds it; the rest of engine_s is
    # waiting (for the device, the engine process, or this process's GIL)
    engine_cpu_s: float = 0.0
    add_s: float = 0.0
    wait_s: float = 0.0
    other_s: float = 0.0
    loop_s: float = 0.0
    # engine steps, and requests in the engine per step: a window the feed keeps full
    # shows as max_num_seqs in flight; a starved one as fewer (and more steps)
    steps: int = 0
    mean_in_flight: float = 0.0
    peak_in_flight_mb: float = 0.0  # decoded bytes held at once (run.max_in_flight_mb)
    threads: dict = field(default_factory=dict)  # cores and threads of the rank's parts
    # remote videos: fetches, fetched_bytes, fetch_s, cache_hits, retries (storage.cache)
    fetch: dict = field(default_factory=dict)
    # vLLM's processor cache: queries, hits, and requests resent without it (a miss in
    # the engine), shared by the tasks of one rank (engine/vllm_engine.py)
    processor_cache: dict = field(default_factory=dict)
    wall_s: float = 0.0
    # videos decoded for this task; a decode shared with other tasks counts in each
    decodes: int = 0
    shared_with: list[str] = field(default_factory=list)  # outputs of tasks on the same decodes
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    # [seconds since start, samples finished], at most a point a second (the report's
    # videos/s over time), thinned to keep at most TIMELINE_POINTS however long the run
    timeline: list[list[float]] = field(default_factory=list)

    @property
    def finished(self) -> int:
        return self.done + self.failed

    def rates(self) -> dict[str, float]:
        wall = max(self.wall_s, 1e-9)
        return {
            "videos_per_s": self.finished / wall,
            "prompt_tokens_per_s": self.prompt_tokens / wall,
            "generated_tokens_per_s": self.generated_tokens / wall,
            # what the render threads exist to drive down: the stepping thread's time
            # outside step(), idle time included
            "outside_step_share": 1 - self.engine_s / self.loop_s if self.loop_s else 0.0,
            "decode_cpu_s_per_video_min": (
                self.decode_cpu_s / (self.video_s / 60) if self.video_s else 0.0
            ),
        }

    def add_decode(self, figures: dict, share: int) -> None:
        """One sample's decode figures (`frames.take_figures` and its CPU time), for a
        decode shared by `share` tasks."""
        self.decode_cpu_s += figures.get("cpu_s", 0.0) / share
        self.video_s += figures.get("video_s", 0.0) / share
        self.frames_kept += figures.get("frames_kept", 0)
        self.frames_decoded += figures.get("frames_decoded", 0)
        pid, peak = str(figures.get("pid")), figures.get("peak_rss_mb", 0.0)
        workers = self.decode_workers_peak_rss_mb
        workers[pid] = max(workers.get(pid, 0.0), peak)
        out = self.decode_workers_out_mb
        out[pid] = max(out.get(pid, 0.0), figures.get("out_mb", 0.0))

    def to_dict(self) -> dict:
        return {**asdict(self), **self.rates()}

    def save(self, path: Path) -> None:
        # Informational, and rewritten by every run of the rank: renamed into place (a
        # kill leaves the old or the new file) without the two fsyncs of an output.
        write_json(path, self.to_dict(), durable=False)


TIMELINE_POINTS = 240


class Progress:
    def __init__(self, stats: RankStats, every: int, point_every_s: float = 1.0) -> None:
        self.stats = stats
        self.every = every
        self.t0 = time.perf_counter()
        self.point_every_s = point_every_s
        self._next_point = 0.0
        self.fetch = None  # the rank's FetchStats, when it fetches remote videos

    def tick(self) -> None:
        s = self.stats
        s.wall_s = time.perf_counter() - self.t0
        last = s.finished == s.todo
        if s.wall_s >= self._next_point or last:
            s.timeline.append([round(s.wall_s, 3), s.finished, s.answered])
            self._next_point = s.wall_s + self.point_every_s
            if len(s.timeline) > TIMELINE_POINTS:  # halve the resolution, keep the ends
                s.timeline[:] = [*s.timeline[:-1:2], s.timeline[-1]]
                self.point_every_s *= 2
        if s.finished % self.every == 0 or last:
            log.info(self.line())

    def line(self) -> str:
        s = self.stats
        r = s.rates()
        left = s.todo - s.finished
        # From the engine's answers only: before the first one (decodes and the engine
        # start still in flight) there is no honest estimate.
        answer_rate = s.answered / max(s.wall_s, 1e-9)
        eta = left / answer_rate if answer_rate > 0 else float("inf")
        pct = 100.0 * s.finished / s.todo if s.todo else 100.0
        return (
            f"[rank {s.rank}/{s.world_size} {s.task}] {s.finished}/{s.todo} ({pct:.0f}%) "
            f"failed={s.failed} {r['videos_per_s']:.2f} videos/s "
            f"{r['generated_tokens_per_s']:.0f} gen tok/s ETA {format_eta(eta)}"
            f"{self._decoded()}{self._fetched()}"
        )

    def _decoded(self) -> str:
        s = self.stats
        if not s.video_s:
            return ""
        minutes = s.video_s / 60
        return (
            f" decode {minutes / max(s.wall_s / 60, 1e-9):.1f} video-min/min "
            f"{s.decode_cpu_s / minutes:.1f} CPU-s/video-min"
        )

    def _fetched(self) -> str:
        f = self.fetch
        if f is None or not f.fetches:
            return ""
        mb = f.fetched_bytes / 2**20
        return f" fetched {mb:.1f} MiB ({mb / max(self.stats.wall_s, 1e-9):.1f} MiB/s)"


def format_eta(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def summary_line(stats: list[dict]) -> str:
    """One line over several ranks' stats dicts."""
    done = sum(s["done"] for s in stats)
    failed = sum(s["failed"] for s in stats)
    skipped = sum(s["skipped_done"] for s in stats)
    dup = sum(s["skipped_duplicate"] for s in stats)
    wall = max((s["wall_s"] for s in stats), default=0.0) or 1e-9
    gen = sum(s["generated_tokens"] for s in stats)
    prompt = sum(s["prompt_tokens"] for s in stats)
    return (
        f"done={done} failed={failed} skipped={skipped} duplicates={dup} "
        f"videos/s={(done + failed) / wall:.2f} prompt tok/s={prompt / wall:.0f} "
        f"gen tok/s={gen / wall:.0f} wall={wall:.1f}s{_fetch_summary(stats)}"
    )


def _fetch_summary(stats: list[dict]) -> str:
    fetches = [s.get("fetch") or {} for s in stats]
    n = sum(f.get("fetches", 0) for f in fetches)
    if not n:
        return ""
    mb = sum(f.get("fetched_bytes", 0) for f in fetches) / 2**20
    hits = sum(f.get("cache_hits", 0) for f in fetches)
    secs = sum(f.get("fetch_s", 0.0) for f in fetches)
    return f" fetched={n} ({mb:.1f} MiB, {secs:.1f} fetch-s, cache hits {hits})"
