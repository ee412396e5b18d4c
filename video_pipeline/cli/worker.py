"""The torchrun entry: one rank. Started by `launch`, not meant to be run by hand.

Reads RANK / WORLD_SIZE / LOCAL_RANK from torchrun and pins itself to its GPU (or CPU
cores) before torch or vLLM are imported. No torch.distributed group is created: each
rank's engine is independent, and vLLM would adopt torchrun's group otherwise.
"""

from __future__ import annotations

from video_pipeline.cli.lifeline import die_with_parent_and_children

die_with_parent_and_children()  # first, before anything heavy is imported

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from video_pipeline.cli.common import add_config_args, config_or_die, setup_logging  # noqa: E402
from video_pipeline.runner import members  # noqa: E402

log = logging.getLogger("video_pipeline")


def pin_devices(local_rank: int) -> None:
    gpus = os.environ.get("VP_GPUS")
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus.split(",")[local_rank]
    cores = os.environ.get("VP_CPU_BIND")
    if cores:
        mine = cores.split("|")[local_rank]
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", mine)
        os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
        n = len(mine.split(","))
        os.environ["OMP_NUM_THREADS"] = str(n)


def shared_engine(cfgs: list[Any]) -> Callable[[], Any]:
    """An engine factory that builds the rank's engine once, when first asked (a rank
    with nothing to do loads no model), and hands the same engine to every pass."""
    engine = None

    def factory() -> Any:
        nonlocal engine
        if engine is None:
            from video_pipeline.engine.vllm_engine import VllmEngine, build_llm

            seeded = any(c.sampling.seed is not None for c in cfgs)
            engine = VllmEngine(build_llm(cfgs[0].vllm, seeded=seeded))
        return engine

    return factory


def main(argv: list[str] | None = None) -> int:
    members.register([os.getpid()])  # beside each lock the run holds
    p = argparse.ArgumentParser(description=__doc__)
    add_config_args(p)
    args = p.parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    pin_devices(local_rank)
    setup_logging(prefix=f"rank{rank} ")
    cfg = config_or_die(args)

    from video_pipeline.config.loader import task_configs
    from video_pipeline.runner.rank import run_tasks

    cfgs = task_configs(cfg)
    engine = shared_engine(cfgs)
    try:
        all_stats = run_tasks(cfgs, rank, world, engine)
        if cfg.clips.summary:  # the second, text-only pass, on the same engine
            from video_pipeline.clips.summary import run_summary_pass

            all_stats += run_summary_pass(cfgs, rank, world, engine)
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        log.exception("rank %d stopped: %s: %s", rank, type(e).__name__, e)
        log.error("what was journaled so far is valid; rerun the same command to resume")
        return 1
    for stats in all_stats:
        log.info(
            "[rank %d %s] finished: done=%d failed=%d",
            rank,
            stats.task,
            stats.done,
            stats.failed,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
