"""One rank's run: its slice of the input, decoded in workers, fed to its own engine.

The engine gets a bounded window of requests in flight and is refilled as requests
finish; every finished sample is journaled at once, so a kill loses at most the
samples in flight. Several tasks over the same input share the rank: each video is
decoded once and one request per task goes to the engine.
"""

from __future__ import annotations

import contextlib
import logging
import time
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
from video_pipeline.engine.base import Engine, RequestRejected
from video_pipeline.errors import EngineFailure, SampleError, describe_exception, error_dict
from video_pipeline.fingerprint import fingerprint
from video_pipeline.io.journal import JournalWriter, journal_path, journal_paths, scan_done
from video_pipeline.io.jsonl import InputIndex
from video_pipeline.runner.budget import TokenBudget
from video_pipeline.runner.feed import EMPTY, END, DecodeFeed
from video_pipeline.runner.partition import plan_work
from video_pipeline.runner.progress import Progress, RankStats
from video_pipeline.runner.records import error_record, ok_record
from video_pipeline.runner.watch import FailureWatch
from video_pipeline.tasks.base import ParseError, Task
from video_pipeline.tasks.registry import get_task_class

log = logging.getLogger("video_pipeline")


@dataclass
class _Pending:
    key: str
    raw: Any
    decode_s: float
    added: float
    run: _TaskRun


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
        return journal_path(self.cfg.data.output_jsonl, self.stats.rank).with_suffix(".stats.json")


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
    workers = max(1, base.data.num_workers)
    feed = DecodeFeed(
        SharedDecode(datasets, pending),
        workers=workers,
        timeout_s=base.run.decode_timeout_s,
        # decoded samples ready ahead of the engine, as DataLoader's prefetch_factor
        maxsize=workers * base.data.prefetch_factor * base.run.batch_size,
        reader=reader,
    )

    if engine_factory is None:
        from video_pipeline.engine.vllm_engine import VllmEngine, build_llm

        seeded = any(c.sampling.seed is not None for c in cfgs)

        def engine_factory() -> Engine:
            return VllmEngine(build_llm(base.vllm, seeded=seeded))

    def sampling(run: _TaskRun) -> Any:
        if sampling_factory is not None:
            return sampling_factory(run.task)
        from video_pipeline.engine.vllm_engine import build_sampling_params

        return build_sampling_params(run.cfg.sampling, run.task)

    try:
        for r in runs:  # before the engine: a bad setting fails fast
            r.params = sampling(r)
        engine = engine_factory()
        _register_engine_processes(feed.pids)
        limit = getattr(engine, "max_model_len", None) or base.vllm.max_model_len
        window = in_flight_window(base, getattr(engine, "max_num_seqs", None))
        budget = TokenBudget(processor, limit)
        with contextlib.ExitStack() as stack:
            for r in runs:
                path = journal_path(r.cfg.data.output_jsonl, rank)
                writer = JournalWriter(path, r.cfg.run.flush_every, r.cfg.run.fsync_every)
                r.writer = stack.enter_context(writer)
                r.watch = FailureWatch(r.cfg.run.max_consecutive_failures, r.writer.write)
                r.progress = Progress(r.stats, r.cfg.run.log_every)
            _loop(runs, rank, engine, feed, window, budget)
            for r in runs:
                r.watch.flush()
    finally:
        feed.close()
        for r in runs:
            r.stats.save(r.stats_path)
    return [r.stats for r in runs]


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


MAX_WINDOW = 128  # decoded videos held at once (frames in host memory) when not configured


def in_flight_window(cfg: Config, engine_max_num_seqs: int | None) -> int:
    """Requests kept in the engine: enough to fill its batch, bounded by memory.

    Fewer than the engine's `max_num_seqs` leaves batch slots empty; many more only
    queue decoded frames in host memory.
    """
    if cfg.run.max_in_flight:
        return cfg.run.max_in_flight
    seqs = cfg.vllm.max_num_seqs or engine_max_num_seqs or 32
    return max(1, min(seqs, MAX_WINDOW))


def _loop(runs, rank, engine, feed, window, budget) -> None:
    pending: dict[str, _Pending] = {}
    seq = 0
    exhausted = False

    def fail(run, key, raw, error: dict, timing: dict | None = None, out=None) -> None:
        run.watch.failed(error_record(key, run.fp, run.task.name, raw, rank, error, out, timing))
        s = run.stats
        s.failed += 1
        s.errors_by_kind[error["kind"]] = s.errors_by_kind.get(error["kind"], 0) + 1
        run.progress.tick()

    while True:
        # Refill the window; block for input only when the engine would otherwise idle.
        while not exhausted and engine.in_flight() < window:
            idle = engine.in_flight() == 0
            t0 = time.perf_counter()
            item = feed.get(block=idle)
            if idle:
                for r in runs:
                    r.stats.wait_s += time.perf_counter() - t0
            if item is EMPTY:
                break
            if item is END:
                exhausted = True
                break
            todo = [runs[j] for j in item.get("tasks", range(len(runs)))]
            decode_s = item.get("decode_s", 0.0)
            for r in todo:  # a shared decode is split between the tasks it served
                r.stats.decode_s += decode_s / len(todo)
                r.stats.decodes += item.get("decodes", 1)
            key, raw = item["__key"], item["raw"]
            if "error" in item:
                for r in todo:
                    fail(r, key, raw, item["error"], {"decode_s": decode_s})
                continue
            for r, llm_input in zip(todo, item["llm_inputs"], strict=True):
                try:
                    budget.check(llm_input)  # over-long prompts never reach the engine
                except SampleError as e:
                    fail(r, key, raw, e.to_dict(), {"decode_s": decode_s})
                    continue
                rid = f"r{rank}-{seq}"
                seq += 1
                try:
                    engine.add(rid, llm_input, r.params)
                except RequestRejected as e:
                    fail(r, key, raw, error_dict(e.kind, str(e)))
                    continue
                except Exception as e:
                    raise _engine_failed("add", e, len(pending)) from e
                pending[rid] = _Pending(key, raw, decode_s, time.perf_counter(), r)
        if engine.in_flight() == 0:
            if exhausted:
                return
            continue
        t0 = time.perf_counter()
        try:
            finished = engine.step()
        except Exception as e:
            raise _engine_failed("step", e, len(pending)) from e
        for r in runs:
            r.stats.engine_s += time.perf_counter() - t0
        for res in finished:
            p = pending.pop(res.request_id)
            r, task = p.run, p.run.task
            timing = {
                "decode_s": round(p.decode_s, 4),
                "engine_s": round(time.perf_counter() - p.added, 4),
            }
            r.stats.prompt_tokens += res.prompt_tokens
            r.stats.generated_tokens += res.generated_tokens
            r.stats.cached_tokens += res.cached_tokens
            try:
                result = task.parse(res.text, {"__key": p.key, "raw": p.raw})
            except ParseError as e:
                fail(r, p.key, p.raw, error_dict("parse_error", str(e)), timing, res)
                continue
            except Exception as e:  # a bug in the task's code: the setup's, not the answer's
                msg = f"{type(task).__name__}.parse raised {describe_exception(e)}"
                fail(r, p.key, p.raw, error_dict("internal_error", msg), timing, res)
                continue
            r.watch.ok(ok_record(p.key, r.fp, task.name, p.raw, rank, res, result, timing))
            r.stats.done += 1
            r.progress.tick()


def _engine_failed(where: str, e: Exception, in_flight: int) -> EngineFailure:
    return EngineFailure(
        f"the engine failed in {where}(): {type(e).__name__}: {e}. "
        f"{in_flight} request(s) in flight were not journaled; every journaled record "
        "is valid and a rerun of the same command resumes after them"
    )
