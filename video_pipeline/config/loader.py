"""YAML -> typed, validated `Config`.

Every problem is collected and reported at once, each naming its key path, the value
found and what is allowed; nothing here imports torch or vLLM, so a bad config fails in
well under a second, before any model loads.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml

from video_pipeline.config.schema import (
    PREFIX_MARK,
    TASK_PLACEHOLDER,
    ClipsConfig,
    Config,
    DataConfig,
    QualityConfig,
    RunConfig,
    SamplingConfig,
    StorageConfig,
    TaskSpec,
    VisionConfig,
    VllmConfig,
)
from video_pipeline.stages import check as stages
from video_pipeline.stages import plan as stage_plan

SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "vision": VisionConfig,
    "vllm": VllmConfig,
    "sampling": SamplingConfig,
    "run": RunConfig,
    "quality": QualityConfig,
    "clips": ClipsConfig,
    "storage": StorageConfig,
}


class ConfigError(ValueError):
    """A config that cannot run; `problems` holds one message per bad key."""

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = problems
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid config{where}:\n{lines}")


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    data: dict[str, Any] | None = None,
    check_task: bool = True,
) -> Config:
    """Load a config from a YAML file or a mapping, apply `key.path=value` overrides."""
    source = str(path) if path is not None else None
    if data is None:
        if path is None:
            raise ValueError("load_config needs a path or a mapping")
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise ConfigError([f"cannot read config file: {e}"], source) from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise ConfigError([f"not valid YAML: {e}"], source) from None
    data = _deepcopy(data)
    for item in overrides or []:
        _apply_override(data, item, source)
    try:
        cfg = from_dict(data, source)
    except ConfigError as e:
        if check_task:  # report an unknown task together with the other problems
            task = (
                (data.get("run") or {}).get("task", "describe") if isinstance(data, dict) else None
            )
            e.problems += _task_problems(task, data)
            raise ConfigError(e.problems, source) from None
        raise
    if check_task:
        check_task_params(cfg, source)
    return cfg


def _task_problems(task: object, data: dict) -> list[str]:
    from video_pipeline.registry import RegistryError
    from video_pipeline.tasks.registry import get_task_class

    if not isinstance(task, str) or (data.get("run") or {}).get("plugins"):
        return []  # plugins may register it; checked once the config is valid
    try:
        get_task_class(task)
    except RegistryError as e:
        return [f"run.task: {e}"]
    return []


def from_dict(data: Any, source: str | None = None) -> Config:
    if not isinstance(data, dict):
        raise ConfigError([f"the top level must be a mapping, got {type(data).__name__}"], source)
    errs: list[str] = []
    allowed = [*SECTIONS, "task_params", "tasks"]
    for key in data:
        if key not in allowed:
            errs.append(f"unknown section {key!r}; allowed: {', '.join(allowed)}")
    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        raw = data.get(name, {})
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            errs.append(f"{name} must be a mapping, got {type(raw).__name__}")
            continue
        if cls is StorageConfig:
            raw = _storage_section(raw, errs)
        sections[name] = build_section(cls, raw, name, errs)
    task_params = data.get("task_params") or {}
    if not isinstance(task_params, dict):
        errs.append(f"task_params must be a mapping, got {type(task_params).__name__}")
        task_params = {}
    vision = data.get("vision") or {}
    if isinstance(vision, dict) and vision.get("fps") is not None and vision.get("nframes"):
        errs.append("vision.fps and vision.nframes are exclusive: set one, the other to null")
    for section in sections.values():
        if section is not None:
            errs += section.check()
    if errs or any(s is None for s in sections.values()):
        raise ConfigError(errs, source)
    cfg = Config(task_params=task_params, **sections)
    errs = cfg.check()
    if errs:
        raise ConfigError(errs, source)
    if data.get("tasks") is not None:
        cfg.tasks = _task_group(data, errs)
        if errs:
            raise ConfigError(errs, source)
    return cfg


def storage_config(raw: dict[str, Any]) -> StorageConfig:
    """The `storage` section alone (the workflow reads it before any task config)."""
    errs: list[str] = []
    cfg = build_section(StorageConfig, _storage_section(raw, errs), "storage", errs)
    errs += cfg.check() if cfg is not None else []
    if errs:
        raise ConfigError(errs)
    return cfg


def _storage_section(raw: dict[str, Any], errs: list[str]) -> dict[str, Any]:
    """`storage` mixes settings and URL prefixes (`"s3://bucket": {...}`): the prefixes
    go to `prefixes`."""
    if "prefixes" in raw:
        errs.append("storage.prefixes is not a key: write each URL prefix as a key of storage")
    out = {k: v for k, v in raw.items() if PREFIX_MARK not in str(k) and k != "prefixes"}
    prefixes = {}
    for key, options in raw.items():
        if PREFIX_MARK not in str(key):
            continue
        if not isinstance(options, dict):
            errs.append(
                f"storage.{key} must be a mapping of the filesystem's options (fsspec), "
                f"got {options!r}"
            )
            continue
        prefixes[str(key)] = options
    if prefixes:
        out["prefixes"] = prefixes
    return out


def _task_group(data: dict[str, Any], errs: list[str]) -> list[TaskSpec]:
    """The `tasks` list of a config that runs several tasks on one decode of each video."""
    entries = data["tasks"]
    if not isinstance(entries, list) or not entries:
        errs.append(f"tasks must be a non-empty list of task names or mappings, got {entries!r}")
        return []
    specs = load_task_specs(entries, errs)
    errs += stages.structure_problems(specs)
    if "task" in (data.get("run") or {}):
        errs.append("run.task and tasks are exclusive: list every task under tasks")
    if TASK_PLACEHOLDER not in data["data"]["output_jsonl"]:
        errs.append(
            f"data.output_jsonl must contain {TASK_PLACEHOLDER} when tasks is set (each task "
            f"writes its own output), got {data['data']['output_jsonl']!r}"
        )
    if errs:
        return specs
    for i, spec in enumerate(specs):
        try:
            from_dict(task_dict(data, spec))
        except ConfigError as e:
            errs += [f"tasks[{i}] ({spec.name}): {p}" for p in e.problems]
    return specs


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def load_task_specs(entries: list[Any], errs: list[str]) -> list[TaskSpec]:
    """`tasks` entries (a name, or a mapping of name, task, sampling, task_params)."""
    specs: dict[str, TaskSpec] = {}
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            errs.append(f"tasks[{i}] must be a task name or a mapping, got {entry!r}")
            continue
        spec = build_section(TaskSpec, entry, f"tasks[{i}]", errs)
        if spec is None:
            continue
        if not _NAME_RE.match(spec.name):
            errs.append(
                f"tasks[{i}].name must be letters, digits, '_', '-' or '.' (it names files), "
                f"got {spec.name!r}"
            )
        elif spec.name in specs:
            errs.append(f"tasks[{i}].name {spec.name!r} is used twice; names must be unique")
        else:
            specs[spec.name] = spec
    return list(specs.values())


def task_dict(base: dict[str, Any], spec: TaskSpec, output_jsonl: str | None = None) -> dict:
    """The seed-format mapping of one task: base sections with the task's overrides.

    The output is `output_jsonl` when given, else the base's with `{task}` replaced by
    the task's name.
    """
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items() if k != "tasks"}
    out = output_jsonl or str(data.get("data", {}).get("output_jsonl", ""))
    out = out.replace(TASK_PLACEHOLDER, spec.name)
    data["data"] = {**data.get("data", {}), "output_jsonl": out}
    data["run"] = {**data.get("run", {}), "task": spec.task_name}
    data["sampling"] = {**data.get("sampling", {}), **spec.sampling}
    data["task_params"] = {**data.get("task_params", {}), **spec.task_params}
    data["vllm"] = {**data.get("vllm", {}), **spec.vllm}  # a stage's own engine
    return data


def task_configs(cfg: Config) -> list[Config]:
    """One single-task config per task of `cfg` (just `cfg` when it runs one task)."""
    if not cfg.tasks:
        return [cfg]
    base = cfg.to_dict()
    return stage_plan.link(cfg.tasks, [from_dict(task_dict(base, spec)) for spec in cfg.tasks])


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
            roots = [(s, c) for s, c in zip(cfg.tasks, configs, strict=True) if s.after is None]
            errs = _shared_decode_problems(*map(list, zip(*roots, strict=True)))
            errs += stages.field_problems(cfg.tasks, configs)
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
    """Tasks decoded together must read videos the same way: one dataset, one setting."""
    from video_pipeline.tasks.registry import get_task_class

    first = configs[0]
    ds0 = get_task_class(first.run.task).dataset_name
    errs = []
    for i, (spec, cfg) in enumerate(zip(specs, configs, strict=True)):
        ds = get_task_class(cfg.run.task).dataset_name
        if ds != ds0:
            errs.append(
                f"tasks[{i}] ({spec.name}): task {cfg.run.task!r} reads videos with dataset "
                f"{ds!r}, {specs[0].name} with {ds0!r}; tasks listed together share one "
                "decode of each video, so they must use the same dataset"
            )
        if cfg.dataset_params != first.dataset_params:
            errs.append(
                f"tasks[{i}] ({spec.name}).task_params.dataset differs from "
                f"{specs[0].name}'s; tasks listed together share one decode of each video"
            )
    return errs


def build_section(cls: type, raw: dict[str, Any], prefix: str, errs: list[str]) -> Any:
    """A dataclass from a mapping; problems (named by key path) are appended to `errs`."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    n_errs = len(errs)
    for key, value in raw.items():
        if key not in fields:
            close = [k for k in fields if k.startswith(str(key)[:3])]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            errs.append(f"{prefix}.{key} is not a known key{hint}; allowed: {', '.join(fields)}")
            continue
        ok, converted, allowed = _coerce(value, hints[key])
        if not ok:
            errs.append(f"{prefix}.{key} must be {allowed}, got {value!r}")
            continue
        kwargs[key] = converted
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and name not in kwargs and name not in raw:
            errs.append(f"{prefix}.{name} is required")
    if len(errs) > n_errs:
        return None
    return cls(**kwargs)


def _coerce(value: Any, tp: Any) -> tuple[bool, Any, str]:
    """Check `value` against a type hint; ints are accepted where floats are."""
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return True, None, ""
        names = []
        for arg in args:
            if arg is type(None):
                names.append("null")
                continue
            ok, conv, name = _coerce(value, arg)
            if ok:
                return True, conv, ""
            names.append(name)
        return False, None, " or ".join(names)
    if origin is Literal:
        choices = get_args(tp)
        return value in choices, value, f"one of {', '.join(map(str, choices))}"
    if origin is list:
        (item,) = get_args(tp)
        if not isinstance(value, list):
            return False, None, f"a list of {item.__name__}"
        if all(_coerce(v, item)[0] for v in value):
            return True, list(value), ""
        return False, None, f"a list of {item.__name__}"
    if origin is dict:
        key_t, val_t = get_args(tp)
        if not isinstance(value, dict):
            return False, None, "a mapping"
        if val_t is not Any and not all(_coerce(v, val_t)[0] for v in value.values()):
            return False, None, f"a mapping of {key_t.__name__} to {val_t.__name__}"
        return True, dict(value), ""
    if tp is bool:
        return isinstance(value, bool), value, "true or false"
    if tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return ok, value, "an integer"
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else None, "a number"
    if tp is str:
        return isinstance(value, str), value, "a string"
    if tp is Any:
        return True, value, ""
    return isinstance(value, tp), value, tp.__name__


def _apply_override(data: dict[str, Any], item: str, source: str | None) -> None:
    if "=" not in item:
        raise ConfigError([f"override {item!r} must look like section.key=value"], source)
    path, _, text = item.partition("=")
    keys = path.strip().split(".")
    node = data
    for k in keys[:-1]:
        nxt = node.setdefault(k, {})
        if not isinstance(nxt, dict):
            raise ConfigError([f"override {path}: {k} is not a mapping"], source)
        node = nxt
    node[keys[-1]] = yaml.safe_load(text) if text.strip() else None


def _deepcopy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deepcopy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deepcopy(v) for v in data]
    return data


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
