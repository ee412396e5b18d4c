"""One rank's run: its slice of the input, decoded in workers, fed to its own engine.

The engine gets a bounded window of requests in flight and is refilled as requests
finish; every finished sample is journaled at once, so a kill loses at most the
samples in flight. Several tasks over the same input share the rank: each video is
decoded once and one request per task goes to the engine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from video_pipeline.config.schema import Config
from video_pipeline.data.registry import get_dataset_class
from video_pipeline.data.samples import SampleSource
from video_pipeline.data.shared import SharedDecode
from video_pipeline.data.video_reader import install_reader
from video_pipeline.engine.base import Engine
from video_pipeline.fingerprint import fingerprint
from video_pipeline.io.journal import (
    JournalWriter,
    journal_path,
    journal_paths,
    scan_done,
    stats_path,
)
from video_pipeline.io.jsonl import InputIndex
from video_pipeline.runner.budget import TokenBudget
from video_pipeline.runner.feed import DecodeFeed
from video_pipeline.runner.loop import StepLoop
from video_pipeline.runner.memory import ByteGate
from video_pipeline.runner.partition import plan_work
from video_pipeline.runner.progress import Progress, RankStats
from video_pipeline.runner.render import RenderPool
from video_pipeline.runner.threads import ThreadPlan
from video_pipeline.runner.watch import FailureWatch
from video_pipeline.stages.upstream import staged, stamping
from video_pipeline.storage.cache import activate
from video_pipeline.storage.prefetch import prefetcher_for
from video_pipeline.strips import StripWriter, strips_path
from video_pipeline.tasks.base import Task
from video_pipeline.tasks.registry import get_task_class

log = logging.getLogger("video_pipeline")


@dataclass
class _TaskRun:
    """One task of the rank: its answers' identity, journal, counters and sampling."""

    cfg: Config
    task: Task
    fp: str
    stats: RankStats
    selected: np.ndarray  # input rows this task still needs in this rank
    params: Any = None
    writer: JournalWriter | None = None
    progress: Progress | None = None
    watch: FailureWatch | None = None

    @property
    def stats_path(self) -> Path:
        return stats_path(self.cfg.data.output_jsonl, self.stats.rank)


def run_rank(
    cfg: Config,
    rank: int,
    world_size: int,
    engine_factory: Callable[[], Engine] | None = None,
    sampling_factory: Callable[[Task], Any] | None = None,
    processor: Any = None,
) -> RankStats:
    """Run one rank of a single-task config to the end of its slice; returns its stats."""
    if cfg.tasks:
        raise ValueError("a config with `tasks` runs through run_tasks(task_configs(cfg))")
    return run_tasks([cfg], rank, world_size, engine_factory, sampling_factory, processor)[0]


def run_tasks(
    cfgs: list[Config],
    rank: int,
    world_size: int,
    engine_factory: Callable[[], Engine] | None = None,
    sampling_factory: Callable[[Task], Any] | None = None,
    processor: Any = None,
) -> list[RankStats]:
    """Run one rank of one or more tasks over the same input, one engine for all.

    `cfgs` are single-task configs that differ only in task, task params, sampling and
    output (see `config.loader.task_configs`). A row pending in several tasks is
    decoded once and submitted once per task; each task resumes from its own journals.
    Returns each task's stats (also saved as JSON beside its journals).
    """
    from video_pipeline.plugins import load_plugins

    base = cfgs[0]
    load_plugins(base.run.plugins)
    index = InputIndex.build(base.data.input_jsonl, base.data.video_field, base.data.id_field)
    runs = [_plan(cfg, cfgs, index, rank, world_size) for cfg in cfgs]
    selected, pending = _union([r.selected for r in runs])
    if len(selected) == 0:
        for r in runs:
            r.stats.save(r.stats_path)
        return [r.stats for r in runs]
    if len(runs) > 1:
        log.info(
            "[rank %d] %d videos to decode once for %d tasks (%d requests)",
            rank,
            len(selected),
            len(runs),
            int(pending.sum()),
        )

    reader = install_reader(base.vision.reader)
    log.info("[rank %d] video reader: %s", rank, reader)
    if processor is None:
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(
            base.vllm.model, trust_remote_code=base.vllm.trust_remote_code
        )
    samples = SampleSource(
        index, selected, base.data.video_field, base.data.id_field, base.data.video_dir
    )
    datasets = [
        get_dataset_class(r.task.dataset_name)(
            samples, r.task, processor, r.cfg.vision, r.cfg.dataset_params
        )
        for r in runs
    ]
    for d in datasets:
        d.storage = base.storage
    plan = ThreadPlan.for_rank(base)
    plan.apply()  # before the decode workers fork: they inherit its thread counts
    gate = ByteGate(base.run.max_in_flight_mb)
    fetcher = prefetcher_for(base, rank, samples, datasets[0])
    feed = DecodeFeed(
        SharedDecode(datasets, pending),
        workers=plan.workers,
        timeout_s=base.run.decode_timeout_s,
        # decoded samples ready ahead of rendering, as DataLoader's prefetch_factor
        maxsize=plan.workers * base.data.prefetch_factor * base.run.batch_size,
        reader=reader,
        gate=gate,
        cores=plan.decode_cores,
        codec_threads=plan.codec_threads,
        fetcher=fetcher,
    )

    if engine_factory is None:
        engine_factory = default_engine_factory(cfgs)

    def sampling(run: _TaskRun) -> Any:
        if sampling_factory is not None:
            return sampling_factory(run.task)
        from video_pipeline.engine.vllm_engine import build_sampling_params

        return build_sampling_params(run.cfg.sampling, run.task)

    renders = engine = None
    strips = [_strip_writer(r, rank) for r in runs]
    try:
        for r in runs:  # before the engine: a bad setting fails fast
            r.params = sampling(r)
        engine = engine_factory()
        _register_engine_processes(feed.pids)
        limit = getattr(engine, "max_model_len", None) or base.vllm.max_model_len
        window = in_flight_window(base, getattr(engine, "max_num_seqs", None))
        budget = TokenBudget(processor, limit)
        renders = RenderPool(
            feed,
            engine,
            budget,
            gate,
            threads=base.run.render_threads,
            maxsize=window,
            cores=plan.decode_cores,
            strips=strips if any(strips) else None,
        )
        with contextlib.ExitStack() as stack:
            for r in runs:
                path = journal_path(r.cfg.data.output_jsonl, rank)
                writer = JournalWriter(path, r.cfg.run.flush_every, r.cfg.run.fsync_every)
                r.writer = stack.enter_context(writer)
                write = stamping(r.task, r.writer.write)  # a staged task's `upstream`
                r.watch = FailureWatch(r.cfg.run.max_consecutive_failures, write)
                r.progress = Progress(r.stats, r.cfg.run.log_every)
                r.progress.fetch = fetcher.cache.stats
            StepLoop(runs, rank, engine, window, gate).run(renders)
            for r in runs:
                r.watch.flush()
    finally:
        if renders is not None:
            renders.close()
        feed.close()
        _close_strips(strips, rank)
        for r in runs:
            r.stats.threads = plan.describe()
            r.stats.fetch = dataclasses.asdict(fetcher.cache.stats)
            if hasattr(engine, "cache_stats"):
                r.stats.processor_cache = engine.cache_stats()
            r.stats.save(r.stats_path)
        activate(None)
    return [r.stats for r in runs]


def _strip_writer(run: _TaskRun, rank: int) -> StripWriter | None:
    """The task's thumbnail sidecar beside its journal (`run.thumbnails`)."""
    if not run.cfg.run.thumbnails:
        return None
    return StripWriter(strips_path(journal_path(run.cfg.data.output_jsonl, rank)), run.fp)


def _close_strips(strips: list[StripWriter | None], rank: int) -> None:
    for w in strips:
        if w is None:
            continue
        w.close()
        if w.written:
            log.info(
                "[rank %d] thumbnails: %d strips, %.1f ms and %.1f KB each -> %s",
                rank,
                w.written,
                1000 * w.seconds / w.written,
                w.bytes / w.written / 1024,
                w.path,
            )


def default_engine_factory(cfgs: list[Config]) -> Callable[[], Engine]:
    """How a rank of `cfgs` builds its engine: one vLLM engine on the rank's devices."""
    from video_pipeline.engine.vllm_engine import VllmEngine, build_llm

    base = cfgs[0]
    seeded = any(c.sampling.seed is not None for c in cfgs)

    def engine_factory() -> Engine:
        vllm = base.vllm
        for task in dict.fromkeys(c.run.task for c in cfgs):  # what each task needs of it
            vllm = get_task_class(task).engine_config(vllm)  # e.g. Whisper's
        llm = build_llm(vllm, seeded=seeded, render_threads=base.run.render_threads)
        return VllmEngine(llm)

    return engine_factory


def _register_engine_processes(decode_pids: list[int]) -> None:
    """The engine's own processes (vLLM's EngineCore, its workers) become members of the
    run's locks, so no later run takes them while they live (runner/members.py)."""
    import psutil

    from video_pipeline.runner import members

    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return
    members.register(c.pid for c in children if c.pid not in decode_pids)


def _plan(cfg: Config, group: list[Config], index: InputIndex, rank: int, world: int) -> _TaskRun:
    """A task's rows in this rank: its slice minus what its journals hold."""
    task = get_task_class(cfg.run.task)(**cfg.task_kwargs)
    fp = fingerprint(cfg)
    include_errors = not cfg.run.retry_errors
    done = scan_done(journal_paths(cfg.data.output_jsonl), fp, include_errors=include_errors)
    work = plan_work(index, world, rank, done if cfg.data.resume else done[:0])
    stats = RankStats(rank=rank, world_size=world, task=task.name, fingerprint=fp)
    stats.total, stats.todo = work.total, len(work.selected)
    stats.skipped_done, stats.skipped_duplicate = work.skipped_done, work.skipped_duplicate
    stats.shared_with = [c.data.output_jsonl for c in group if c is not cfg]
    log.info(
        "[rank %d/%d %s] %d rows in slice: %d to run, %d done earlier, %d duplicate keys",
        rank,
        world,
        task.name,
        work.total,
        stats.todo,
        work.skipped_done,
        work.skipped_duplicate,
    )
    task = staged(task, cfg, index.hashes[work.selected])  # with its upstream's answers
    return _TaskRun(cfg, task, fp, stats, work.selected)


def _union(works: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rows pending in any task, in input order, and which tasks each is pending for."""
    if len(works) == 1:
        return works[0], np.ones((len(works[0]), 1), dtype=bool)
    selected = np.unique(np.concatenate(works))  # each plan is sorted and unique
    pending = np.zeros((len(selected), len(works)), dtype=bool)
    for j, w in enumerate(works):
        pending[np.searchsorted(selected, w), j] = True
    return selected, pending


MAX_WINDOW = 128  # requests in flight when no byte bound (run.max_in_flight_mb: null) holds memory


def in_flight_window(cfg: Config, engine_max_num_seqs: int | None) -> int:
    """Requests kept in the engine: enough to fill its batch.

    Fewer than the engine's `max_num_seqs` leaves batch slots empty (measured: a window
    of 128 against 256 seqs cost 5% of the throughput at 256 tokens). Host memory is
    bounded by `run.max_in_flight_mb`; without that bound, by at most MAX_WINDOW requests.
    """
    if cfg.run.max_in_flight:
        return cfg.run.max_in_flight
    seqs = cfg.vllm.max_num_seqs or engine_max_num_seqs or 32
    if cfg.run.max_in_flight_mb is None:
        return max(1, min(seqs, MAX_WINDOW))
    return max(1, seqs)
