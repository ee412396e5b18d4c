"""Run a config on one machine: torchrun with one rank per engine (or N CPU ranks).

    python -m video_pipeline.cli.launch --config configs/describe.yaml --gpus 0,1,2,3
    python -m video_pipeline.cli.launch --config my.yaml --nproc 2   # CPU ranks, no GPU

Each rank sees only its own GPUs: one, or `vllm.tensor_parallel_size` T of them, in
which case N GPUs make N/T ranks. Rank outputs are `<output stem>.rank{r}.jsonl`; a rerun
of the same command resumes. `--merge` merges them when all ranks are done.

With `clips` on, the input is first expanded into clip rows (`<stem>.clips.jsonl`,
reused while the input and the clip settings are unchanged) and the ranks run those:
resume, merge and the roll-up (`<stem>.videos.jsonl`) are per clip. `clips.summary`
adds a second, text-only pass (`<stem>.summary.jsonl`) once every clip is done.

Exit status: 0 done; 1 a rank stopped (engine failure, loader failure: rerun to resume);
2 bad config; 3 merged with keys still pending; 4 another run holds the output's lock.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import subprocess
import sys

from video_pipeline.cli.common import add_config_args, config_or_die, fail, setup_logging
from video_pipeline.config import Config, ConfigError
from video_pipeline.config.loader import task_configs
from video_pipeline.devices import (
    RANK_CORES_ENV,
    RANK_GPUS_ENV,
    DeviceError,
    gpu_groups,
    launch_devices,
    rank_env,
    require_cpu_build,
)
from video_pipeline.io.journal import journal_path
from video_pipeline.runner import members
from video_pipeline.runner.lock import LockHeld, LockUnsupported, OutputLock, lock_path
from video_pipeline.runner.progress import summary_line
from video_pipeline.stages.plan import is_text_only

log = logging.getLogger("video_pipeline")

CONFIG_ERROR = 2  # exit status of `fail`: the config or a path in it is wrong
LOCKED = 4  # exit status when another run holds the output's lock


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_args(p)
    dev = p.add_mutually_exclusive_group()
    dev.add_argument(
        "--gpus",
        help="comma-separated GPU ids; one rank per vllm.tensor_parallel_size of them "
        "(default: CUDA_VISIBLE_DEVICES as set, e.g. by SLURM, else all GPUs)",
    )
    dev.add_argument("--nproc", type=int, help="number of CPU ranks (machines without GPUs)")
    p.add_argument("--merge", action="store_true", help="merge rank outputs at the end")
    p.add_argument("--retry-errors", action="store_true", help="rerun samples that failed before")
    return p.parse_args(argv)


def worker_command(config: str, overrides: list[str], nproc: int) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "video_pipeline.cli.worker",
        "--config",
        config,
    ]
    for o in overrides:
        cmd += ["--set", o]
    return cmd


def rank_stats(cfg: Config, nproc: int) -> list[dict]:
    out = []
    for r in range(nproc):
        p = journal_path(cfg.data.output_jsonl, r).with_suffix(".stats.json")
        if p.exists():
            out.append(json.loads(p.read_text()))
    return out


def quality_flags(cfg: Config) -> str:
    """` flags: empty=… truncated=…` of the task's answers so far (from its journals);
    also writes `<stem>.quality.json`. A failure here never fails the run."""
    from video_pipeline.quality import check_config, flags_line

    try:
        return " " + flags_line(check_config(cfg, prefer="journals")[1])
    except Exception as e:
        log.warning("quality checks of %s failed: %s: %s", cfg.run.task, type(e).__name__, e)
        return ""


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    args = parse_args(argv)
    if args.retry_errors:
        args.overrides.append("run.retry_errors=true")
    cfg = config_or_die(args)
    cfgs = task_configs(cfg)
    from video_pipeline.runner.checks import (
        check_decode_device,
        check_engine,
        check_listeners,
        check_model,
        check_paths,
        check_storage,
    )

    try:
        gpus, nproc = launch_devices(args.gpus, args.nproc)
        if gpus is None:
            require_cpu_build()
        groups = gpu_groups(gpus, cfg.vllm.tensor_parallel_size) if gpus is not None else None
    except DeviceError as e:
        fail(str(e))
        raise  # unreachable
    try:
        for one in cfgs:
            check_paths(one)
        # the vision settings of each task that reads frames, once per model and setting
        # (a staged text task's model reads none, a transcribe task's only audio)
        framed = [one for one in cfgs if not is_text_only(one)]
        for one in {(c.vllm.model, c.vision.model_dump_json()): c for c in framed}.values():
            check_model(one)
        check_listeners(cfgs)
        check_engine(cfgs, on_cpu=gpus is None)
        check_decode_device(cfgs[0])
        check_storage(cfgs[0])
    except ConfigError as e:
        fail(str(e))
    nproc = nproc if groups is None else len(groups)
    outputs = [one.data.output_jsonl for one in cfgs]
    if cfg.clips.summary:
        from video_pipeline.clips.summary import summary_output

        outputs += [summary_output(one) for one in cfgs]
    with contextlib.ExitStack() as locks:
        for out in outputs:
            locks.callback(take_lock(out).release)
        overrides = list(args.overrides)
        if cfg.clips.enabled:  # the ranks read the clip rows (expanded here, once)
            from video_pipeline.clips.run import run_overrides

            cfgs = clip_configs(cfg, nproc)
            overrides += run_overrides(cfgs[0])
        passes = list(cfgs)
        if cfg.clips.summary:  # run by the same ranks once every clip is done
            from video_pipeline.clips.summary import summary_config, summary_input

            passes += [summary_config(one, summary_input(one)) for one in cfgs]
        if len(cfgs) > 1:
            log.info("%d tasks share each video's decode", len(cfgs))
        dirs = [str(members.members_dir(lock_path(out))) for out in outputs]
        cmd = worker_command(args.config, overrides, nproc)
        rc = run_ranks(cmd, passes, groups, nproc, dirs)
        if rc != 0:
            print(
                f"error: ranks exited with code {rc}; rerun the same command to resume",
                file=sys.stderr,
            )
            return rc
        return merge_all(passes) if args.merge else 0


def clip_configs(cfg: Config, nproc: int) -> list[Config]:
    """The run's configs over the clip rows, expanding the input unless up to date."""
    from video_pipeline.clips.run import run_configs
    from video_pipeline.clips.shots import ShotsUnavailable

    try:  # probing runs in the processes the ranks would decode in
        return run_configs(cfg, expand=True, workers=cfg.data.num_workers * nproc)
    except ShotsUnavailable as e:
        fail(str(e))
        raise  # unreachable


def take_lock(output: str) -> OutputLock:
    """Refuse to start while another run writes the same output."""
    try:
        lock = OutputLock(output).acquire()
    except LockHeld as e:
        fail(str(e), code=LOCKED)
        raise  # unreachable
    except LockUnsupported as e:
        fail(f"data.output_jsonl: {e}")
        raise
    if lock.previous:
        log.warning(
            "took over the lock of a run that ended without releasing it (pid %s on %s)",
            lock.previous.get("pid"),
            lock.previous.get("host"),
        )
    return lock


def run_ranks(
    cmd: list[str],
    cfgs: list[Config],
    groups: list[list[str]] | None,
    nproc: int,
    dirs: list[str],
) -> int:
    """torchrun `cmd`, whose ranks run the tasks of `cfgs`; returns its exit status."""
    from video_pipeline.runner.state import prepare_output

    fps = [(cfg.run.task, prepare_output(cfg)) for cfg in cfgs]
    tp = cfgs[0].vllm.tensor_parallel_size
    env = {k: v for k, v in os.environ.items() if k not in (RANK_GPUS_ENV, RANK_CORES_ENV)}
    env.update(rank_env(groups, nproc))
    if groups is not None:
        where = f"{nproc} rank(s) on GPUs {' | '.join(','.join(g) for g in groups)}"
    else:
        where = f"{nproc} CPU rank(s), cores {env[RANK_CORES_ENV]}"
    if tp > 1:
        where += f", tensor_parallel_size {tp} per rank"
    for task, fp in fps:
        log.info("task %s, fingerprint %s, %s", task, fp, where)
    from video_pipeline.cli.lifeline import die_with_parent

    # The ranks and their engines register beside each lock the run holds (the GPU
    # claims of a workflow job come in through the environment).
    inherited = [d for d in env.get(members.MEMBERS_ENV, "").split(os.pathsep) if d]
    env[members.MEMBERS_ENV] = os.pathsep.join([*inherited, *dirs])
    proc = subprocess.Popen(cmd, env=env, preexec_fn=die_with_parent)
    members.register([proc.pid], env[members.MEMBERS_ENV].split(os.pathsep))
    try:
        rc = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        rc = proc.wait()
    for cfg in cfgs:
        stats = rank_stats(cfg, nproc)
        if stats:
            flags = quality_flags(cfg) if rc == 0 else ""
            print(f"[{cfg.run.task}] {summary_line(stats)}{flags}", file=sys.stderr)
    return rc


def merge_all(cfgs: list[Config]) -> int:
    from video_pipeline.merge import merge_outputs

    complete = True
    for cfg in cfgs:
        report = merge_outputs(cfg)
        print(report.summary(), file=sys.stderr)
        complete = complete and report.complete
    return 0 if complete else 3


if __name__ == "__main__":
    sys.exit(main())
