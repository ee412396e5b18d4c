"""One rank's run: its slice of the input, decoded in workers, fed to its own engine.

The engine gets a bounded window of requests in flight and is refilled as requests
finish; every finished sample is journaled at once, so a kill loses at most the
samples in flight.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch.utils.data import DataLoader

from video_pipeline.config.schema import Config
from video_pipeline.data.deadline import DecodeDeadline
from video_pipeline.data.registry import get_dataset_class
from video_pipeline.data.samples import SampleSource
from video_pipeline.data.video_reader import install_reader
from video_pipeline.engine.base import Engine, RequestRejected
from video_pipeline.errors import EngineFailure, SampleError, error_dict
from video_pipeline.io.journal import JournalWriter, journal_path, journal_paths, scan_done
from video_pipeline.io.jsonl import InputIndex
from video_pipeline.runner.budget import TokenBudget
from video_pipeline.runner.partition import plan_work
from video_pipeline.runner.prefetch import EMPTY, END, Prefetcher
from video_pipeline.runner.progress import Progress, RankStats
from video_pipeline.runner.records import error_record, ok_record
from video_pipeline.runner.state import fingerprint
from video_pipeline.tasks.base import ParseError, Task
from video_pipeline.tasks.registry import get_task_class

log = logging.getLogger("video_pipeline")


@dataclass
class _Pending:
    key: str
    raw: Any
    decode_s: float
    added: float


def _collate(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return batch  # samples differ in shape; the engine takes them one by one


def run_rank(
    cfg: Config,
    rank: int,
    world_size: int,
    engine_factory: Callable[[], Engine] | None = None,
    sampling_factory: Callable[[Task], Any] | None = None,
    processor: Any = None,
) -> RankStats:
    """Run one rank to the end of its slice; returns its stats (also saved as JSON)."""
    from video_pipeline.plugins import load_plugins

    load_plugins(cfg.run.plugins)
    task = get_task_class(cfg.run.task)(**cfg.task_kwargs)
    fp = fingerprint(cfg)
    out = cfg.data.output_jsonl

    index = InputIndex.build(cfg.data.input_jsonl, cfg.data.video_field, cfg.data.id_field)
    done = scan_done(journal_paths(out), fp, include_errors=not cfg.run.retry_errors)
    work = plan_work(index, world_size, rank, done if cfg.data.resume else done[:0])
    stats = RankStats(rank=rank, world_size=world_size, task=task.name, fingerprint=fp)
    stats.total, stats.todo = work.total, len(work.selected)
    stats.skipped_done, stats.skipped_duplicate = work.skipped_done, work.skipped_duplicate
    log.info(
        "[rank %d/%d %s] %d rows in slice: %d to run, %d done earlier, %d duplicate keys",
        rank,
        world_size,
        task.name,
        work.total,
        stats.todo,
        work.skipped_done,
        work.skipped_duplicate,
    )
    stats_path = journal_path(out, rank).with_suffix(".stats.json")
    if stats.todo == 0:
        stats.save(stats_path)
        return stats

    reader = install_reader(cfg.vision.reader)
    log.info("[rank %d] video reader: %s", rank, reader)
    if processor is None:
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(
            cfg.vllm.model, trust_remote_code=cfg.vllm.trust_remote_code
        )
    samples = SampleSource(index, work.selected, cfg.data.video_field, cfg.data.id_field)
    dataset_cls = get_dataset_class(task.dataset_name)
    dataset = dataset_cls(samples, task, processor, cfg.vision, cfg.dataset_params)
    workers = cfg.data.num_workers
    loader = DataLoader(
        DecodeDeadline(dataset, cfg.run.decode_timeout_s),
        batch_size=cfg.run.batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=cfg.data.pin_memory,
        prefetch_factor=cfg.data.prefetch_factor if workers > 0 else None,
    )
    feed = Prefetcher(
        loader, maxsize=max(cfg.run.max_in_flight or MAX_WINDOW, cfg.run.batch_size * 2)
    )

    if engine_factory is None:
        from video_pipeline.engine.vllm_engine import VllmEngine, build_llm

        def engine_factory() -> Engine:
            return VllmEngine(build_llm(cfg.vllm))

    if sampling_factory is None:
        from video_pipeline.engine.vllm_engine import build_sampling_params

        def sampling_factory(t: Task) -> Any:
            return build_sampling_params(cfg.sampling, t)

    try:
        params = sampling_factory(task)  # before the engine: a bad setting fails fast
        engine = engine_factory()
        limit = getattr(engine, "max_model_len", None) or cfg.vllm.max_model_len
        window = in_flight_window(cfg, getattr(engine, "max_num_seqs", None))
        budget = TokenBudget(processor, limit)
        with JournalWriter(journal_path(out, rank), cfg.run.flush_every, cfg.run.fsync_every) as w:
            _loop(cfg, task, fp, rank, engine, params, feed, w, stats, window, budget)
    finally:
        feed.close()
        stats.save(stats_path)
    return stats


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


def _loop(cfg, task, fp, rank, engine, params, feed, writer, stats, window, budget) -> None:
    progress = Progress(stats, cfg.run.log_every)
    pending: dict[str, _Pending] = {}
    seq = 0
    exhausted = False

    def fail(key: str, raw: Any, error: dict, timing: dict | None = None, out=None) -> None:
        writer.write(error_record(key, fp, task.name, raw, rank, error, out, timing))
        stats.failed += 1
        stats.errors_by_kind[error["kind"]] = stats.errors_by_kind.get(error["kind"], 0) + 1
        progress.tick()

    while True:
        # Refill the window; block for input only when the engine would otherwise idle.
        while not exhausted and engine.in_flight() < window:
            idle = engine.in_flight() == 0
            t0 = time.perf_counter()
            item = feed.get(block=idle)
            if idle:
                stats.wait_s += time.perf_counter() - t0
            if item is EMPTY:
                break
            if item is END:
                exhausted = True
                break
            stats.decode_s += item.get("decode_s", 0.0)
            if "error" in item:
                fail(item["__key"], item["raw"], item["error"], {"decode_s": item.get("decode_s")})
                continue
            try:
                budget.check(item["llm_input"])  # over-long prompts never reach the engine
            except SampleError as e:
                fail(item["__key"], item["raw"], e.to_dict(), {"decode_s": item.get("decode_s")})
                continue
            rid = f"r{rank}-{seq}"
            seq += 1
            try:
                engine.add(rid, item["llm_input"], params)
            except RequestRejected as e:
                fail(item["__key"], item["raw"], error_dict(e.kind, str(e)))
                continue
            except Exception as e:
                raise _engine_failed("add", e, len(pending)) from e
            pending[rid] = _Pending(
                item["__key"], item["raw"], item.get("decode_s", 0.0), time.perf_counter()
            )
        if engine.in_flight() == 0:
            if exhausted:
                return
            continue
        t0 = time.perf_counter()
        try:
            finished = engine.step()
        except Exception as e:
            raise _engine_failed("step", e, len(pending)) from e
        stats.engine_s += time.perf_counter() - t0
        for res in finished:
            p = pending.pop(res.request_id)
            timing = {
                "decode_s": round(p.decode_s, 4),
                "engine_s": round(time.perf_counter() - p.added, 4),
            }
            stats.prompt_tokens += res.prompt_tokens
            stats.generated_tokens += res.generated_tokens
            stats.cached_tokens += res.cached_tokens
            try:
                result = task.parse(res.text, {"__key": p.key, "raw": p.raw})
            except ParseError as e:
                fail(p.key, p.raw, error_dict("parse_error", str(e)), timing, res)
                continue
            except Exception as e:  # a bug in a task's parse costs its sample, not the rank
                msg = f"{type(task).__name__}.parse raised {type(e).__name__}: {e}"
                fail(p.key, p.raw, error_dict("parse_error", msg), timing, res)
                continue
            writer.write(ok_record(p.key, fp, task.name, p.raw, rank, res, result, timing))
            stats.done += 1
            progress.tick()


def _engine_failed(where: str, e: Exception, in_flight: int) -> EngineFailure:
    return EngineFailure(
        f"the engine failed in {where}(): {type(e).__name__}: {e}. "
        f"{in_flight} request(s) in flight were not journaled; every journaled record "
        "is valid and a rerun of the same command resumes after them"
    )
