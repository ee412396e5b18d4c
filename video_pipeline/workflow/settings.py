"""The workflow's config: the seed's sections plus the workflow's own top-level keys.

One schema: the seed's sections (`data`, `vision`, `vllm`, `sampling`, `run`,
`task_params`) are checked by `video_pipeline.config` exactly as for `launch`, once per
task with that task's overrides applied; the workflow's keys are checked here in the
same style (key path, bad value, what is allowed). Everything is checked when Snakemake
parses the workflow, so a bad key fails before any job starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from video_pipeline.config import Config, ConfigError, load_config
from video_pipeline.config.loader import build_section, load_task_specs, task_dict
from video_pipeline.config.schema import TASK_PLACEHOLDER, ClipsConfig, TaskSpec
from video_pipeline.fingerprint import fingerprint
from video_pipeline.stages.plan import with_records
from video_pipeline.storage.urls import is_remote
from video_pipeline.workflow.layout import Layout

SEED_SECTIONS = (
    "data",
    "vision",
    "vllm",
    "sampling",
    "run",
    "task_params",
    "quality",
    "clips",
    "storage",
)
# Keys the workflow sets per job; a value in the config would be silently ignored.
MANAGED = {
    "data.input_jsonl": "input",
    "data.output_jsonl": "outdir",
    "run.task": "tasks",
}


@dataclass
class WorkflowSettings:
    input: str
    tasks: list[Any]
    outdir: str = "results"
    num_shards: int = 1
    gpus_per_job: int = 1
    cpu_ranks: int = 1
    device: Literal["auto", "cpu"] = "auto"
    gpu_ids: list[Any] | None = None
    gpu_lock_dir: str = "/tmp/video-pipeline-gpu-locks"
    gpu_claim_timeout_s: float | None = None
    fresh: bool = False
    share_decode: bool = False
    report: bool = False  # build <outdir>/report/index.html as part of `all`

    def check(self) -> list[str]:
        errs = []
        if self.num_shards < 1:
            errs.append(f"num_shards must be >= 1, got {self.num_shards}")
        if self.gpus_per_job < 0:
            errs.append(f"gpus_per_job must be >= 0 (0 = CPU ranks), got {self.gpus_per_job}")
        if self.cpu_ranks < 1:
            errs.append(f"cpu_ranks must be >= 1, got {self.cpu_ranks}")
        if self.gpu_ids is not None:
            ids = [str(i) for i in self.gpu_ids]
            bad = [i for i in self.gpu_ids if not isinstance(i, (str, int)) or isinstance(i, bool)]
            if bad or not all(ids):
                errs.append(f"gpu_ids must be a list of GPU indices or UUIDs, got {self.gpu_ids}")
            if len(set(ids)) != len(ids):
                errs.append(f"gpu_ids lists an id twice: {self.gpu_ids}")
            if self.gpus_per_job > len(ids):
                errs.append(
                    f"gpus_per_job ({self.gpus_per_job}) must be <= the number of gpu_ids "
                    f"({len(ids)})"
                )
        if self.gpu_claim_timeout_s is not None and self.gpu_claim_timeout_s <= 0:
            errs.append(f"gpu_claim_timeout_s must be > 0 or null, got {self.gpu_claim_timeout_s}")
        if not self.tasks:
            errs.append("tasks must list at least one task")
        return errs

    @property
    def ranks_per_job(self) -> int:
        return self.gpus_per_job or self.cpu_ranks

    @property
    def pool(self) -> list[str] | None:
        return None if self.gpu_ids is None else [str(i) for i in self.gpu_ids]


@dataclass
class Workflow:
    """The validated workflow: its settings, tasks, per-task configs and file layout."""

    settings: WorkflowSettings
    tasks: dict[str, TaskSpec]
    base: dict[str, Any]  # the seed's sections as given
    layout: Layout
    configs: dict[str, Config] = field(default_factory=dict)  # per task, shard-independent

    @property
    def task_names(self) -> list[str]:
        return list(self.tasks)

    @property
    def shards(self) -> list[str]:
        return [self.layout.shard_name(i) for i in range(self.settings.num_shards)]

    @property
    def key_fields(self) -> tuple[str, str | None]:
        """(video_field, id_field): what makes a row's key, the same for every task."""
        data = next(iter(self.configs.values())).data
        return data.video_field, data.id_field

    def fingerprint(self, task: str) -> str:
        """What identifies the task's answers; throughput knobs leave it unchanged."""
        return fingerprint(self.configs[task])

    def quality_settings(self, task: str) -> str:
        q = self.configs[task].quality
        return " ".join(f"{k}={v}" for k, v in dataclasses.asdict(q).items())

    @property
    def clips(self) -> ClipsConfig:
        """The clips section, the same for every task."""
        return next(iter(self.configs.values())).clips

    def job_input(self, shard: str) -> str:
        """What an infer job reads: its input shard, or with clips on its clip shard."""
        return self.layout.clip_shard(shard) if self.clips.enabled else self.layout.shard(shard)

    def clip_settings(self) -> str:
        """What the clip rows depend on beside the input (an expand rule's params)."""
        payload = self.clips.fingerprint_payload() or {}
        cfg = next(iter(self.configs.values()))
        return " ".join(f"{k}={v}" for k, v in {**payload, "base_dir": cfg.data.video_dir}.items())

    def shard_config(self, task: str, shard: str) -> Config:
        """The `launch` config of one (task, shard) job.

        Relative video paths resolve against the user's input folder, not the shard's.
        The summary pass is the workflow's own rule, after the merge: jobs run clips.
        """
        cfg = self.configs[task]
        data = dataclasses.replace(
            cfg.data,
            input_jsonl=self.job_input(shard),
            output_jsonl=self.layout.journal_stem(task, shard),
            resume=cfg.data.resume and not self.settings.fresh,
            base_dir=cfg.data.video_dir,
        )
        clips = dataclasses.replace(cfg.clips, summary=False)
        cfg = dataclasses.replace(cfg, data=data, clips=clips)
        # a staged task reads its upstream's part of the same shard
        return with_records(cfg, {up: self.layout.part(up, shard) for up in self.after(task)})

    def after(self, task: str) -> list[str]:
        """The tasks whose parts of a shard the task's job of that shard reads."""
        return list(self.tasks[task].after or [])

    def summary_source(self, task: str) -> Config:
        """The clip task whose summary pass runs in work/{task}/summary/."""
        cfg = self.shard_config(task, self.layout.shard_name(0))
        data = dataclasses.replace(cfg.data, output_jsonl=self.layout.summary_stem(task))
        return dataclasses.replace(cfg, data=data)

    def summary_fingerprint(self, task: str) -> str:
        """What identifies a task's summaries (its captions' fingerprint included)."""
        from video_pipeline.clips.summary import summary_config

        src = self.summary_source(task)
        return fingerprint(summary_config(src, src.data.input_jsonl))

    def group_config(self, shard: str) -> Config:
        """The `launch` config of a share_decode job: every task on one decode per video.

        Its tasks expand to exactly the `shard_config`s of the tasks (same journals,
        same fingerprints), so jobs resume across a change of `share_decode`.
        """
        first = next(iter(self.configs.values()))
        data = {
            **self.base.get("data", {}),
            "input_jsonl": self.job_input(shard),
            "output_jsonl": self.layout.journal_stem(TASK_PLACEHOLDER, shard),
            "base_dir": first.data.video_dir,
        }
        if self.settings.fresh:
            data["resume"] = False
        tasks = [dataclasses.asdict(spec) for spec in self.tasks.values()]
        base = {**self.base, "data": data, "tasks": tasks}
        if "clips" in base:
            base["clips"] = {**base["clips"], "summary": False}
        return load_config(data=base)


def missing_input_message(path: str) -> str:
    """One line for a run whose input does not exist (a fresh checkout's config.yaml)."""
    return (
        f"error: the input {path!r} does not exist: set `input:` to your JSONL of videos "
        "(in config.yaml or a file passed with --configfile my-run.yaml); to try the "
        "pipeline on generated videos, run `make demo`"
    )


def missing_model_message(wf: Workflow) -> str | None:
    """One line for a `vllm.model` written as a local path (absolute, or starting with
    `./`, `../` or `~`) that does not exist: found when the DAG is parsed instead of by
    every infer job. Anything else may be a hub id, which only the engine can resolve."""
    from pathlib import Path

    for cfg in wf.configs.values():
        model = cfg.vllm.model
        local = model.startswith(("/", "./", "../", "~"))
        if local and not Path(model).expanduser().exists():
            return (
                f"error: vllm.model {model!r} does not exist: set it to a model folder (one "
                "with config.json) or a hub id such as Qwen/Qwen2.5-VL-7B-Instruct"
            )
    return None


def load_workflow(config: dict[str, Any]) -> Workflow:
    """Validate Snakemake's config mapping; raises ConfigError listing every problem."""
    if not isinstance(config, dict):
        raise ConfigError([f"the top level must be a mapping, got {type(config).__name__}"])
    errs: list[str] = []
    wf_fields = [f.name for f in dataclasses.fields(WorkflowSettings)]
    for key in config:
        if key not in wf_fields and key not in SEED_SECTIONS:
            errs.append(f"unknown key {key!r}; allowed: {', '.join([*wf_fields, *SEED_SECTIONS])}")
    base = {k: config[k] for k in SEED_SECTIONS if config.get(k) is not None}
    for path, instead in MANAGED.items():
        section, key = path.split(".")
        if isinstance(base.get(section), dict) and key in base[section]:
            errs.append(f"{path} is set by the workflow for each job; use `{instead}` instead")
    raw = {
        k: _cli_bool(config[k]) if k in _BOOL_KEYS else config[k] for k in wf_fields if k in config
    }
    settings = build_section(WorkflowSettings, raw, "", errs)
    if settings is not None:
        errs += settings.check()
    if errs or settings is None:
        raise ConfigError([e.removeprefix(".") for e in errs])
    layout = Layout(settings.outdir)
    if is_remote(settings.input):
        base = _local_input(settings, base, layout, errs)
        if errs:
            raise ConfigError(errs)
    tasks = {spec.name: spec for spec in load_task_specs(settings.tasks, errs)}
    configs: dict[str, Config] = {}
    for i, spec in enumerate(tasks.values()):
        where = f"tasks[{i}] ({spec.name})"
        try:
            data = {**base, "data": {**base.get("data", {}), "input_jsonl": settings.input}}
            stem = layout.journal_stem(spec.name, layout.shard_name(0))
            configs[spec.name] = load_config(data=task_dict(data, spec, stem))
        except ConfigError as e:
            errs += [f"{where}: {p}" for p in e.problems]
    errs += _tensor_parallel_problems(settings, configs)
    if not errs:  # stages: `after`, templates, the fingerprint chain
        errs += _stage_problems(settings, tasks, configs)
    if errs:
        raise ConfigError(errs)
    wf = Workflow(settings, tasks, base, layout, configs)
    if settings.share_decode and len(tasks) > 1:
        try:
            wf.group_config(layout.shard_name(0))
        except ConfigError as e:
            raise ConfigError([f"share_decode: {p}" for p in e.problems]) from None
    return wf


def _stage_problems(
    settings: WorkflowSettings, tasks: dict[str, TaskSpec], configs: dict[str, Config]
) -> list[str]:
    """Staged tasks' checks; links each to its upstream (`configs` updated in place)."""
    from video_pipeline.stages import check, plan

    specs = list(tasks.values())
    errs = check.structure_problems(specs)
    if errs or all(s.after is None for s in specs):
        return errs
    if settings.share_decode:
        return ["share_decode runs every task in one job; tasks with `after` need their own jobs"]
    errs = check.field_problems(specs, [configs[s.name] for s in specs])
    linked = plan.link(specs, [configs[s.name] for s in specs])
    configs.update(zip(tasks, linked, strict=True))
    return errs


def _local_input(
    settings: WorkflowSettings, base: dict[str, Any], layout: Layout, errs: list[str]
) -> dict[str, Any]:
    """A remote `input` is copied under `outdir` (again only when it changed); the jobs
    read the copy, relative video paths resolve against the remote folder."""
    from video_pipeline.config.loader import storage_config
    from video_pipeline.storage.inputs import local_input
    from video_pipeline.storage.urls import parent

    url = settings.input
    try:
        storage = storage_config(base.get("storage") or {})
        settings.input = str(local_input(url, storage, layout.inputs()))
    except (ConfigError, ValueError) as e:
        errs.append(f"input: {e}")
        return base
    data = dict(base.get("data") or {})
    data.setdefault("base_dir", parent(url))
    return {**base, "data": data}


def _tensor_parallel_problems(settings: WorkflowSettings, configs: dict[str, Config]) -> list[str]:
    """Each GPU job splits into engines of vllm.tensor_parallel_size GPUs."""
    if not configs or settings.gpus_per_job == 0:
        return []
    tp = next(iter(configs.values())).vllm.tensor_parallel_size
    if settings.gpus_per_job % tp == 0:
        return []
    return [
        f"gpus_per_job ({settings.gpus_per_job}) must be a multiple of "
        f"vllm.tensor_parallel_size ({tp}): each infer job runs gpus_per_job / {tp} ranks "
        f"of {tp} GPUs"
    ]


SHARED = "_shared"  # work/ folder of share_decode jobs; task names cannot start with "_"

_BOOL_KEYS = {f.name for f in dataclasses.fields(WorkflowSettings) if f.type == "bool"}


def _cli_bool(value: Any) -> Any:
    """`--config fresh=true` reaches the config as the string 'true' (Snakemake's own
    parser only turns `True` and `False` into booleans); accept both spellings."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value
