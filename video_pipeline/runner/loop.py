"""The stepping thread: keep the engine's window full of rendered requests, step it,
journal what finishes.

It does as little as possible besides `step()`: requests arrive rendered (runner/
render.py), so adding one is cheap, and it blocks for input only when the engine would
otherwise sit idle. Its own time is accounted for (in `step()`, `add_s`, `idle_s`, and
the rest: parsing and journaling answers) in every task's stats.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from video_pipeline.data.sample import Prepared
from video_pipeline.engine.base import Engine, Finished, RequestRejected
from video_pipeline.errors import EngineFailure, describe_exception, record_error
from video_pipeline.io.record import RecordError
from video_pipeline.runner.feed import EMPTY, END
from video_pipeline.runner.memory import ByteGate
from video_pipeline.runner.records import error_record, ok_record
from video_pipeline.runner.render import Rendered, RenderPool
from video_pipeline.tasks.base import ParseError


@dataclass
class StepMeter:
    """Engine steps counted one way wherever the engine is stepped (a rank, `bench`'s
    engine-alone half): how many, the requests in the engine at each, the wall time and
    the stepping thread's own CPU time in them (the rest is waiting: for the device, the
    engine process or this process's GIL)."""

    count: int = 0
    in_flight_sum: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0

    def step(self, engine: Engine) -> list[Finished]:
        self.count += 1
        self.in_flight_sum += engine.in_flight()
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return engine.step()
        finally:
            self.wall_s += time.perf_counter() - t0
            self.cpu_s += time.thread_time() - c0

    @property
    def mean_in_flight(self) -> float:
        return round(self.in_flight_sum / max(1, self.count), 1)


@dataclass
class _Gather:
    """The answers to one task's `Parts` of a sample: one record once all are in."""

    meta: list[dict[str, Any]]
    outs: dict[int, Finished] = field(default_factory=dict)  # part -> its answer
    failed: bool = False  # a part failed: the sample's record is written already
    added: float = field(default_factory=time.perf_counter)  # its engine time starts

    def combined(self) -> Finished:
        """The parts' figures summed; cut short if any part was."""
        outs = [self.outs[k] for k in sorted(self.outs)]
        reasons = [o.finish_reason for o in outs]
        return Finished(
            request_id="",
            text="",
            prompt_tokens=sum(o.prompt_tokens for o in outs),
            generated_tokens=sum(o.generated_tokens for o in outs),
            finish_reason="length" if "length" in reasons else (reasons[-1] if reasons else None),
            cached_tokens=sum(o.cached_tokens for o in outs),
        )


@dataclass
class _Pending:
    sample: Prepared
    run: Any  # the task's _TaskRun
    added: float
    gather: _Gather | None = None  # a part of a multi-part input
    part: int = 0


class StepLoop:
    def __init__(
        self, runs: list[Any], rank: int, engine: Engine, window: int, gate: ByteGate
    ) -> None:
        self.runs = runs
        self.rank = rank
        self.engine = engine
        self.window = window
        self.gate = gate
        self.pending: dict[str, _Pending] = {}
        self.open: dict[int, int] = {}  # sample index -> its requests not finished yet
        self._seq = 0
        self.times = {"add_s": 0.0, "idle_s": 0.0, "render_s": 0.0}
        self.meter = StepMeter()

    def run(self, source: RenderPool) -> None:
        t_start = time.perf_counter()
        exhausted = False
        try:
            while True:
                while not exhausted and self.engine.in_flight() < self.window:
                    idle = self.engine.in_flight() == 0
                    t0 = time.perf_counter()
                    item = source.get(block=idle)
                    if idle:
                        self.times["idle_s"] += time.perf_counter() - t0
                    if item is EMPTY:
                        break
                    if item is END:
                        exhausted = True
                        break
                    self._add(item)
                if self.engine.in_flight() == 0:
                    if exhausted:
                        return
                    continue
                try:
                    finished = self.meter.step(self.engine)
                except Exception as e:
                    raise self._failed("step", e) from e
                for res in finished:
                    self._finish(res)
        finally:
            self._account(time.perf_counter() - t_start)

    def _add(self, item: Rendered) -> None:
        sample = item.sample
        self.times["render_s"] += item.render_s
        runs = [self.runs[j] for j in sample.tasks]
        for r in runs:  # a shared decode is split between the tasks it served
            r.stats.decode_s += sample.decode_s / len(runs)
            r.stats.decodes += sample.decodes
            if sample.decode_stats is not None:
                r.stats.add_decode(sample.decode_stats, len(runs))
        self.open[sample.index] = len(item.requests)
        for j, error in item.failures:
            self._fail(self.runs[j], sample, error)
        gathers = {j: _Gather(meta) for j, meta in item.parts.items()}
        for j, g in gathers.items():
            if not g.meta:  # no parts (a video without sound): answered with nothing
                self._answer(self.runs[j], sample, g.combined(), None, g)
        t0 = time.perf_counter()
        seen: dict[int, int] = {}
        for j, request in item.requests:
            r = self.runs[j]
            g, part = gathers.get(j), seen.get(j, 0)
            seen[j] = part + 1
            rid = f"r{self.rank}-{self._seq}"
            self._seq += 1
            if g is not None and g.failed:  # an earlier part was refused
                self._close(sample.index)
                continue
            try:
                self.engine.add(rid, request, r.params)
            except RequestRejected as e:
                self._fail(r, sample, record_error(e.kind, str(e)))
                self._close(sample.index)
                if g is not None:
                    g.failed = True
                continue
            except Exception as e:
                raise self._failed("add", e) from e
            self.pending[rid] = _Pending(sample, r, time.perf_counter(), g, part)
        self.times["add_s"] += time.perf_counter() - t0
        if not item.requests:
            self._close(sample.index)

    def _finish(self, res: Finished) -> None:
        p = self.pending.pop(res.request_id)
        r, sample, g = p.run, p.sample, p.gather
        self._close(sample.index)
        engine_s = round(time.perf_counter() - p.added, 4)
        r.stats.answered += 1
        r.stats.prompt_tokens += res.prompt_tokens
        r.stats.generated_tokens += res.generated_tokens
        r.stats.cached_tokens += res.cached_tokens
        if g is not None and g.failed:  # the sample's error record is written already
            return
        if res.error is not None:  # the engine ended it without an answer
            self._fail(r, sample, record_error(*res.error), res, engine_s)
            if g is not None:
                g.failed = True
            return
        if g is None:
            self._answer(r, sample, res, engine_s)
            return
        g.outs[p.part] = res
        if len(g.outs) == len(g.meta):  # the last part: one record for them all
            self._answer(r, sample, g.combined(), round(time.perf_counter() - g.added, 4), g)

    def _answer(
        self,
        r: Any,
        sample: Prepared,
        res: Finished,
        engine_s: float | None,
        gather: _Gather | None = None,
    ) -> None:
        """The record of an answer: parsed, or an error record keeping the answer."""
        task = r.task
        given = {"__key": sample.key, "raw": sample.raw}
        try:
            if gather is None:
                result = task.parse(res.text, given)
            else:
                texts = [gather.outs[k].text for k in sorted(gather.outs)]
                res.text = "\n".join(texts)  # kept as is if the answers are unusable
                res.text, result = task.parse_parts(texts, gather.meta, given)
        except ParseError as e:
            self._fail(r, sample, record_error("parse_error", str(e)), res, engine_s)
            return
        except Exception as e:  # a bug in the task's code: the setup's, not the answer's
            where = "parse" if gather is None else "parse_parts"
            msg = f"{type(task).__name__}.{where} raised {describe_exception(e)}"
            self._fail(r, sample, record_error("internal_error", msg), res, engine_s)
            return
        rec = ok_record(
            sample.key,
            r.fp,
            task.name,
            sample.raw,
            self.rank,
            res,
            result,
            round(sample.decode_s, 4),
            engine_s,
        )
        rec.audio = sample.heard_by(self._index(r))
        r.watch.ok(rec)
        r.stats.done += 1
        r.progress.tick()

    def _fail(
        self,
        run,
        sample: Prepared,
        error: RecordError,
        out: Finished | None = None,
        engine_s: float | None = None,
    ) -> None:
        decode_s = round(sample.decode_s, 4)
        rec = error_record(
            sample.key, run.fp, run.task.name, sample.raw, self.rank, error, out, decode_s, engine_s
        )
        rec.audio = sample.heard_by(self._index(run))
        run.watch.failed(rec)
        s = run.stats
        s.failed += 1
        s.errors_by_kind[error.kind] = s.errors_by_kind.get(error.kind, 0) + 1
        run.progress.tick()

    def _index(self, run) -> int:
        return next(j for j, r in enumerate(self.runs) if r is run)

    def _close(self, index: int) -> None:
        """One request of a sample is done; its bytes go when its last one is."""
        left = self.open.get(index, 0) - 1
        if left <= 0:
            self.open.pop(index, None)
            self.gate.release(index)
        else:
            self.open[index] = left

    def _account(self, wall: float) -> None:
        t, m = self.times, self.meter
        busy = m.wall_s + t["add_s"] + t["idle_s"]
        for r in self.runs:
            s = r.stats
            s.engine_s, s.wait_s, s.add_s, s.render_s = (
                m.wall_s,
                t["idle_s"],
                t["add_s"],
                t["render_s"],
            )
            s.other_s = max(0.0, wall - busy)  # parsing and journaling answers, bookkeeping
            s.loop_s = wall
            s.engine_cpu_s, s.steps, s.mean_in_flight = m.cpu_s, m.count, m.mean_in_flight
            s.peak_in_flight_mb = round(self.gate.peak / 2**20, 1)

    def _failed(self, where: str, e: Exception) -> EngineFailure:
        return EngineFailure(
            f"the engine failed in {where}(): {type(e).__name__}: {e}. "
            f"{len(self.pending)} request(s) in flight were not journaled; every journaled "
            "record is valid and a rerun of the same command resumes after them"
        )
