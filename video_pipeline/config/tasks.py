"""A config's tasks: one single-task config per entry of `tasks`, and the checks that
need the task registry (each task exists and takes its params)."""

from __future__ import annotations

from typing import Any

from video_pipeline.config.errors import ConfigError
from video_pipeline.config.schema import TASK_PLACEHOLDER, Config, TaskSpec


def task_config(cfg: Config, spec: TaskSpec, output_jsonl: str | None = None) -> Config:
    """The single-task config of `spec`: `cfg` with the task's overrides.

    The output is `output_jsonl` when given, else `cfg`'s with `{task}` replaced by the
    task's name. Raises pydantic's ValidationError for bad sampling overrides (checked
    when `cfg` was validated).
    """
    out = (output_jsonl or cfg.data.output_jsonl).replace(TASK_PLACEHOLDER, spec.name)
    return cfg.model_copy(
        update={
            "data": cfg.data.model_copy(update={"output_jsonl": out}),
            "run": cfg.run.model_copy(update={"task": spec.task_name}),
            "sampling": spec.sampling_over(cfg.sampling),
            "vllm": spec.vllm_over(cfg.vllm),  # a stage's own engine
            "vision": spec.vision_over(cfg.vision),  # hears, or sees alone
            "task_params": {**cfg.task_params, **spec.task_params},
            "tasks": [],
        }
    )


def task_configs(cfg: Config) -> list[Config]:
    """One single-task config per task of `cfg` (just `cfg` when it runs one task)."""
    from video_pipeline.stages.plan import link

    if not cfg.tasks:
        return [cfg]
    return link(cfg.tasks, [task_config(cfg, spec) for spec in cfg.tasks])


def unknown_task(data: dict[str, Any]) -> list[str]:
    """`run.task` of a mapping that failed validation, when it names no task (reported
    with the other problems; a plugin may register it, so not when plugins are set)."""
    from video_pipeline.registry import RegistryError
    from video_pipeline.tasks.registry import get_task_class

    run = data.get("run") if isinstance(data, dict) else None
    run = run if isinstance(run, dict) else {}
    task = run.get("task", "describe")
    if not isinstance(task, str) or run.get("plugins"):
        return []
    try:
        get_task_class(task)
    except RegistryError as e:
        return [f"run.task: {e}"]
    return []


def check_task_params(cfg: Config, source: str | None = None) -> None:
    """Load plugins, then check that each task exists and accepts its params."""
    from video_pipeline.plugins import load_plugins

    try:
        load_plugins(cfg.run.plugins)
    except ImportError as e:
        raise ConfigError([f"run.plugins: cannot import {e.name or e}: {e}"], source) from None
    if not cfg.tasks:
        errs = _one_task_problems(cfg)
    else:
        errs = []
        configs = task_configs(cfg)
        for i, (spec, one) in enumerate(zip(cfg.tasks, configs, strict=True)):
            errs += [f"tasks[{i}] ({spec.name}): {p}" for p in _one_task_problems(one)]
        if not errs:  # the first stage shares each video's decode
            from video_pipeline.stages.check import field_problems

            roots = [(s, c) for s, c in zip(cfg.tasks, configs, strict=True) if s.after is None]
            errs = _shared_decode_problems(*map(list, zip(*roots, strict=True)))
            errs += field_problems(cfg.tasks, configs)
    errs += _summary_task_problems(cfg)
    if errs:
        raise ConfigError(errs, source)


def _summary_task_problems(cfg: Config) -> list[str]:
    """The task of the clips' summary pass exists and takes its params."""
    from video_pipeline.registry import RegistryError
    from video_pipeline.tasks.registry import get_task_class

    if not cfg.clips.summary:
        return []
    try:
        task_cls = get_task_class(cfg.clips.summary_task)
    except RegistryError as e:
        return [f"clips.summary_task: {e}"]
    return [f"clips.summary_params: {p}" for p in task_cls.check_params(cfg.clips.summary_params)]


def _one_task_problems(cfg: Config) -> list[str]:
    from video_pipeline.registry import RegistryError
    from video_pipeline.tasks.registry import get_task_class

    try:
        task_cls = get_task_class(cfg.run.task)
    except RegistryError as e:
        return [f"run.task: {e}"]
    return task_cls.check_params(cfg.task_kwargs)


def _shared_decode_problems(specs: list[TaskSpec], configs: list[Config]) -> list[str]:
    """Tasks decoded together (the first stage's, on one engine) must read videos the
    same way: datasets of one decode kind, one setting."""
    from video_pipeline.data.registry import get_dataset_class
    from video_pipeline.data.shared import decode_kind
    from video_pipeline.stages.plan import engine_key
    from video_pipeline.tasks.registry import get_task_class

    errs = []
    firsts: dict[str, tuple[TaskSpec, Config, str, str]] = {}
    for i, (spec, cfg) in enumerate(zip(specs, configs, strict=True)):
        ds = get_task_class(cfg.run.task).dataset_name
        kind = decode_kind(get_dataset_class(ds))
        first = firsts.setdefault(engine_key(cfg), (spec, cfg, ds, kind))
        spec0, cfg0, ds0, kind0 = first
        if kind != kind0:
            errs.append(
                f"tasks[{i}] ({spec.name}): task {cfg.run.task!r} reads videos with dataset "
                f"{ds!r}, {spec0.name} with {ds0!r}; tasks listed together on one engine "
                "share one decode of each video, so their datasets must read videos alike"
            )
        if cfg.dataset_params != cfg0.dataset_params:
            errs.append(
                f"tasks[{i}] ({spec.name}).task_params.dataset differs from "
                f"{spec0.name}'s; tasks listed together share one decode of each video"
            )
    return errs
