"""YAML -> typed, validated `Config`.

Every problem is collected and reported at once, each naming its key path, the value
found and what is allowed; nothing here imports torch or vLLM, so a bad config fails in
well under a second, before any model loads.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml

from video_pipeline.config.schema import (
    Config,
    DataConfig,
    RunConfig,
    SamplingConfig,
    VisionConfig,
    VllmConfig,
)

SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "vision": VisionConfig,
    "vllm": VllmConfig,
    "sampling": SamplingConfig,
    "run": RunConfig,
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
    allowed = [*SECTIONS, "task_params"]
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
    return cfg


def check_task_params(cfg: Config, source: str | None = None) -> None:
    """Load plugins, then check that the task exists and accepts its params."""
    from video_pipeline.plugins import load_plugins
    from video_pipeline.registry import RegistryError
    from video_pipeline.tasks.registry import get_task_class

    try:
        load_plugins(cfg.run.plugins)
    except ImportError as e:
        raise ConfigError([f"run.plugins: cannot import {e.name or e}: {e}"], source) from None
    try:
        task_cls = get_task_class(cfg.run.task)
    except RegistryError as e:
        raise ConfigError([f"run.task: {e}"], source) from None
    errs = task_cls.check_params(cfg.task_kwargs)
    if errs:
        raise ConfigError(errs, source)


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
