"""What a command's `--config` names: a workflow run or a `launch` run, as units of work.

The same file works for every command: the workflow config a user passes to Snakemake
with `--configfile` (layered over the repository's `config.yaml`, as the Snakefile
layers it), or a `launch` config. Either way the run is a list of units, one per task
and shard (one per task for `launch`), each with its `launch` config (whose
`data.output_jsonl` names the unit's journals) and the file that holds it once finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from video_pipeline.config import Config, ConfigError, load_config
from video_pipeline.config.loader import apply_override, task_configs

# The repository's defaults, which the Snakefile loads before any --configfile.
WORKFLOW_DEFAULTS = Path(__file__).resolve().parents[2] / "config.yaml"


@dataclass(frozen=True)
class Unit:
    task: str
    shard: str | None  # None for a `launch` run: one output for all its ranks
    config: Config  # the unit's `launch` config; its journals: data.output_jsonl
    output: str  # the unit's finished file: a workflow part, or launch's merged output


@dataclass(frozen=True)
class Run:
    kind: str  # "workflow" or "launch"
    units: list[Unit]
    outdir: str | None = None  # the workflow's outdir
    # per task, a config over the whole input whose data.output_jsonl is the task's
    # merged records (launch: its output; workflow: results/{task}.jsonl)
    task_configs: list[tuple[str, Config]] = field(default_factory=list)

    @property
    def tasks(self) -> list[str]:
        return list(dict.fromkeys(u.task for u in self.units))


def read_yaml(path: str | Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as e:
        raise ConfigError([f"cannot read {path}: {e.strerror}"]) from None
    except yaml.YAMLError as e:
        raise ConfigError([f"{path} is not valid YAML: {e}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the top level must be a mapping"])
    return data


def is_workflow_config(data: dict[str, Any]) -> bool:
    """A workflow config has keys of its own (`input`, `outdir`, `num_shards`, ...)
    beside the sections it shares with `launch` configs; both may list `tasks`, but only
    a launch config names its input as `data.input_jsonl`."""
    from video_pipeline.workflow.settings import SEED_SECTIONS

    if any(k not in (*SEED_SECTIONS, "tasks") for k in data):
        return True
    data_section = data.get("data")
    return not (isinstance(data_section, dict) and "input_jsonl" in data_section)


def merge_config(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` layered on `base` as Snakemake layers --configfile: mappings merge key by
    key, anything else replaces."""
    out = dict(base)
    for k, v in over.items():
        out[k] = (
            merge_config(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        )
    return out


def load_run(
    paths: str | Path | list[str | Path],
    overrides: list[str] | None = None,
    task: str | None = None,
    shard: str | None = None,
) -> Run:
    """The run the config file(s) name, narrowed to `task` and `shard`; raises
    ConfigError. Several files are layered in order, as Snakemake's --configfile."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    overrides = list(overrides or [])
    layers = [read_yaml(p) for p in paths]
    if not any(is_workflow_config(d) for d in layers):
        if len(paths) > 1:
            raise ConfigError(
                ["a launch config is one file; several are layered only for a workflow config"]
            )
        if shard is not None:
            raise ConfigError([f"--shard {shard}: a launch config has no shards"])
        cfg = load_config(paths[0], overrides=overrides)
        names = [spec.name for spec in cfg.tasks] or [cfg.run.task]
        units = [
            Unit(name, None, c, c.data.output_jsonl)
            for name, c in zip(names, _launch_configs(cfg), strict=True)
        ]
        units = _narrow(units, task, shard)
        kept = {u.task for u in units}
        return Run("launch", units, None, [(u.task, u.config) for u in units if u.task in kept])
    from video_pipeline.workflow.settings import load_workflow, with_local_input

    data = read_yaml(WORKFLOW_DEFAULTS) if WORKFLOW_DEFAULTS.exists() else {}
    for layer in layers:
        data = merge_config(data, layer)
    for item in overrides:
        apply_override(data, item, str(paths[-1]))
    wf = with_local_input(load_workflow(data))
    units = [
        Unit(t, s, wf.shard_config(t, s), wf.layout.part(t, s))
        for t in wf.task_names
        for s in wf.shards
    ]
    units = _narrow(units, task, shard)
    kept = {u.task for u in units}
    per_task = [
        (t, _with_output(wf.configs[t], wf.layout.result(t))) for t in wf.task_names if t in kept
    ]
    return Run("workflow", units, wf.settings.outdir, per_task)


def _launch_configs(cfg: Config) -> list[Config]:
    """The single-task configs of a `launch` run: with clips on, over its clip rows
    once they are expanded (what its ranks run and its totals count)."""
    if cfg.clips.enabled:
        from video_pipeline.clips.run import ClipsNotExpanded, run_configs

        try:
            return run_configs(cfg)
        except ClipsNotExpanded:
            pass
    return task_configs(cfg)


def _with_output(cfg: Config, output: str) -> Config:
    return cfg.model_copy(update={"data": cfg.data.model_copy(update={"output_jsonl": output})})


def _narrow(units: list[Unit], task: str | None, shard: str | None) -> list[Unit]:
    if task is not None:
        names = list(dict.fromkeys(u.task for u in units))
        if task not in names:
            raise ConfigError(
                [f"--task {task}: not a task of this run; its tasks: {', '.join(names)}"]
            )
        units = [u for u in units if u.task == task]
    if shard is not None:
        shards = sorted({u.shard for u in units if u.shard is not None})
        want = shard.zfill(5) if shard.isdigit() else shard
        if want not in shards:
            raise ConfigError([f"--shard {shard}: no such shard; shards: {', '.join(shards)}"])
        units = [u for u in units if u.shard == want]
    return units
