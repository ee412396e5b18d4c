"""The torchrun entry: one rank. Started by `launch`, not meant to be run by hand.

Reads RANK / WORLD_SIZE / LOCAL_RANK from torchrun and pins itself to its GPUs (one,
or `vllm.tensor_parallel_size` of them) or CPU cores before torch or vLLM are imported.
No torch.distributed group is created: each rank's engine is independent (with tensor
parallel, vLLM's own multiprocess executor starts the engine's workers and their
group), and vLLM would adopt torchrun's group otherwise.
"""

from __future__ import annotations

from video_pipeline.cli.lifeline import die_with_parent_and_children

die_with_parent_and_children()  # first, before anything heavy is imported

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

from video_pipeline.cli.common import add_config_args, config_or_die, setup_logging  # noqa: E402
from video_pipeline.config import ConfigError, load_config  # noqa: E402
from video_pipeline.runner import members  # noqa: E402
from video_pipeline.runner.threads import pin_rank  # noqa: E402

log = logging.getLogger("video_pipeline")


def main(argv: list[str] | None = None) -> int:
    members.register([os.getpid()])  # beside each lock the run holds
    p = argparse.ArgumentParser(description=__doc__)
    add_config_args(p)
    args = p.parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    setup_logging(prefix=f"rank{rank} ")
    try:  # the structure only (no plugins: they may import torch before it is pinned)
        shape = load_config(args.config, overrides=args.overrides, check_task=False)
    except ConfigError:
        shape = None
    if shape is None:
        pin_rank(local_rank, workers=1)
    else:
        workers = max(1, shape.data.num_workers)
        pin_rank(local_rank, workers, shape.vllm.tensor_parallel_size, shape.run.render_threads)
    cfg = config_or_die(args)

    from video_pipeline.config.loader import task_configs
    from video_pipeline.runner.rank import run_tasks
    from video_pipeline.stages.run import EnginePool, run_stages

    cfgs = task_configs(cfg)
    # One engine at a time, built when first asked (a rank with nothing to do loads no
    # model), reused by every pass on its model, and shut down when the rank ends: an
    # engine core in its own process (as on GPUs) exits as asked, not as found dead.
    pool = EnginePool()
    try:
        if any(spec.after is not None for spec in cfg.tasks):  # stages, in order
            all_stats = run_stages(cfg.tasks, cfgs, rank, world, pool)
        else:
            all_stats = run_tasks(cfgs, rank, world, pool.factory(cfgs))
        if cfg.clips.summary:  # the stage after the clips, text only, on their engine
            from video_pipeline.clips.summary import run_summary_pass

            all_stats += run_summary_pass(cfgs, rank, world, pool.factory)
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        log.exception("rank %d stopped: %s: %s", rank, type(e).__name__, e)
        log.error("what was journaled so far is valid; rerun the same command to resume")
        return 1
    finally:
        pool.close()
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
