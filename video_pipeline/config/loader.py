"""YAML -> typed, validated `Config`: reading, `--set` overrides, validation.

Every problem is collected and reported at once, each naming its key path, the value
found and what is allowed; nothing here imports torch or vLLM, so a bad config fails in
well under a second, before any model loads. Splitting a config into its tasks lives in
`config.tasks`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from video_pipeline.config.errors import ConfigError, problems
from video_pipeline.config.schema import SECTIONS, YAML, Config, StorageConfig
from video_pipeline.config.tasks import check_task_params, task_configs, unknown_task

__all__ = [
    "ConfigError",
    "apply_override",
    "dump_config",
    "load_config",
    "storage_config",
    "task_configs",
    "validate",
]


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
        data = read_yaml(path)
    data = copy.deepcopy(data)  # the config shares no mapping with the caller's
    for item in overrides or []:
        apply_override(data, item, source)
    try:
        cfg = validate(data, source)
    except ConfigError as e:
        if check_task:  # report an unknown task together with the other problems
            e.problems += unknown_task(data)
            raise ConfigError(e.problems, source) from None
        raise
    if check_task:
        check_task_params(cfg, source)
    return cfg


def read_yaml(path: str | Path) -> Any:
    """A YAML file's contents (safe_load only), or ConfigError naming the file."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ConfigError([f"cannot read config file: {e}"], str(path)) from None
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError([f"not valid YAML: {e}"], str(path)) from None


def validate(data: Any, source: str | None = None) -> Config:
    """A `Config` from a mapping in the YAML's shape; ConfigError lists every problem."""
    if not isinstance(data, dict):
        raise ConfigError([f"the top level must be a mapping, got {type(data).__name__}"], source)
    try:
        return Config.model_validate(data, context={YAML: True})
    except ValidationError as e:
        raise ConfigError(problems(e, Config, data, unknown=_unknown_section), source) from None


def _unknown_section(key: str, allowed: list[str]) -> str:
    return f"unknown section {key!r}; allowed: {', '.join([*SECTIONS, 'task_params', 'tasks'])}"


def storage_config(raw: dict[str, Any]) -> StorageConfig:
    """The `storage` section alone (the workflow reads it before any task config)."""
    try:
        return StorageConfig.model_validate(raw, context={YAML: True})
    except ValidationError as e:
        raise ConfigError(problems(e, StorageConfig, raw, "storage")) from None


def apply_override(data: dict[str, Any], item: str, source: str | None = None) -> None:
    """Set `section.key=value` (the value read as YAML) in the mapping `data`."""
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


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
