"""A rank's staged run: the groups of `plan.waves` in order, on engines it reuses.

Each group runs through `run_tasks` like any task group (its own journals, resume and
stats); the rank's slice of the input is the same in every stage (rows are dealt to
ranks by position), so a stage needs only this rank's earlier stages and the records
of earlier runs, never a barrier. Tasks on the model and engine settings just used get
that engine; a group on another model has the previous engine shut down first, so one
engine holds the rank's devices at a time.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from video_pipeline.stages.plan import engine_key, waves

if TYPE_CHECKING:
    from video_pipeline.config.schema import Config, TaskSpec
    from video_pipeline.runner.progress import RankStats

log = logging.getLogger("video_pipeline")


class EnginePool:
    """One engine at a time, built when first asked for, kept while the key holds."""

    def __init__(self, build: Callable[[list[Config]], Callable[[], Any]] | None = None) -> None:
        if build is None:
            from video_pipeline.runner.rank import default_engine_factory

            build = default_engine_factory
        self._build = build
        self.key: str | None = None
        self.engine: Any = None
        self.loads = 0  # engines built: one per change of model

    def factory(self, cfgs: list[Config]) -> Callable[[], Any]:
        key = engine_key(cfgs[0])

        def get() -> Any:
            if self.engine is None or self.key != key:
                self.close()
                log.info("engine for stage tasks: loading %s", cfgs[0].vllm.model)
                self.engine = self._build(cfgs)()
                self.key = key
                self.loads += 1
            return self.engine

        return get

    def close(self) -> None:
        """Shut the engine down (its engine core process too, when it has one)."""
        if self.engine is None:
            return
        llm = getattr(self.engine, "llm", None)
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        try:
            if core is not None and hasattr(core, "shutdown"):
                core.shutdown()
        except Exception as e:  # an engine that already died: nothing left to stop
            log.debug("engine shutdown: %s: %s", type(e).__name__, e)
        self.engine = None
        gc.collect()


def run_stages(
    specs: list[TaskSpec],
    cfgs: list[Config],
    rank: int,
    world: int,
    pool: EnginePool | None = None,
) -> list[RankStats]:
    """Run every task of `cfgs` (one per spec, linked) in stage order on this rank."""
    from video_pipeline.runner.rank import run_tasks

    pool = pool or EnginePool()
    stats: list[RankStats] = []
    for group in waves(specs, cfgs):
        names = ", ".join(specs[i].name for i in group)
        log.info("[rank %d] stage: %s", rank, names)
        part = [cfgs[i] for i in group]
        stats += run_tasks(part, rank, world, pool.factory(part))
    return stats
