"""Pieces shared by the CLIs: config arguments, logging, fatal errors."""

from __future__ import annotations

import argparse
import logging
import sys

from video_pipeline.config import Config, ConfigError, load_config


def add_config_args(
    p: argparse.ArgumentParser, config_help: str = "YAML config (see configs/describe.yaml)"
) -> None:
    p.add_argument("--config", required=True, help=config_help)
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set run.batch_size=4 (repeatable)",
    )


def config_from_args(args: argparse.Namespace) -> Config:
    """The config; a remote `data.input_jsonl` is copied beside the outputs first, and
    the overrides that read the copy are added to `args.overrides` (the ranks get them)."""
    cfg = load_config(args.config, overrides=args.overrides)
    from video_pipeline.storage.urls import is_remote

    if is_remote(cfg.data.input_jsonl):
        from pathlib import Path

        from video_pipeline.storage.inputs import input_overrides

        folder = Path(cfg.data.output_jsonl).parent / "inputs"
        try:
            more = input_overrides(cfg.data.input_jsonl, cfg.storage, folder, cfg.data.base_dir)
        except ValueError as e:
            raise ConfigError([str(e)]) from None
        args.overrides = [*args.overrides, *more]
        cfg = load_config(args.config, overrides=args.overrides)
    return cfg


def setup_logging(prefix: str = "") -> None:
    from video_pipeline.logfilters import debug_wanted, quiet_library_logs

    quiet_library_logs()
    logging.basicConfig(
        level=logging.DEBUG if debug_wanted() else logging.INFO,
        format=f"%(asctime)s {prefix}%(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )


def fail(message: str, code: int = 2) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def config_or_die(args: argparse.Namespace) -> Config:
    try:
        return config_from_args(args)
    except ConfigError as e:
        fail(str(e))
        raise  # unreachable; keeps type checkers happy


def task_configs_or_die(args: argparse.Namespace) -> list[Config]:
    """The config's tasks, one single-task config each (one for a seed-style config)."""
    from video_pipeline.config.loader import task_configs

    return task_configs(config_or_die(args))


def run_configs_or_die(
    args: argparse.Namespace, expand: bool = False, workflow: bool = False
) -> list[Config]:
    """The configs of the config's tasks as the run sees them: with `clips` on, reading
    the clip rows (expanded first when `expand`, else they must be up to date). With
    `workflow`, the config may be a workflow's (see `named_configs_or_die`)."""
    if workflow:
        cfgs = [c for _, c in named_configs_or_die(args)]
    else:
        from video_pipeline.config.loader import task_configs

        cfgs = task_configs(config_or_die(args))
    if not any(c.clips.enabled for c in cfgs):  # the clips package imports PyAV
        return cfgs
    from video_pipeline.clips.run import ClipsNotExpanded, run_configs
    from video_pipeline.clips.shots import ShotsUnavailable

    try:
        return [one for c in cfgs for one in run_configs(c, expand, workers=c.data.num_workers)]
    except (ClipsNotExpanded, ShotsUnavailable) as e:
        fail(str(e))
        raise  # unreachable


def add_run_args(p: argparse.ArgumentParser) -> None:
    """`--config` of a read-only command: a launch config, or the workflow config given
    to Snakemake (layered over config.yaml as the Snakefile layers it); and `--task`."""
    add_config_args(
        p,
        config_help="the run's config: a launch config, or the workflow config passed to "
        "Snakemake with --configfile (layered over config.yaml)",
    )
    p.add_argument("--task", help="only this task (a name under tasks:)")


def named_configs_or_die(args: argparse.Namespace) -> list[tuple[str, Config]]:
    """(task, config) of each task of the run, its data.output_jsonl where the task's
    records are: a launch config's own outputs, or a workflow's results/{task}.jsonl."""
    from video_pipeline.workflow.targets import is_workflow_config, load_run, read_yaml

    try:
        if is_workflow_config(read_yaml(args.config)):
            return load_run(args.config, args.overrides, args.task).task_configs
        cfg = config_from_args(args)
    except ConfigError as e:
        fail(str(e))
        raise  # unreachable
    from video_pipeline.config.loader import task_configs

    named = list(zip([s.name for s in cfg.tasks] or [cfg.run.task], task_configs(cfg), strict=True))
    if args.task is not None:
        names = [n for n, _ in named]
        if args.task not in names:
            fail(f"--task {args.task}: not a task of this run; tasks: {', '.join(names)}")
        named = [(n, c) for n, c in named if n == args.task]
    return named
