"""The workflow's config: the seed's sections plus the workflow's own top-level keys.

One schema: the seed's sections (`data`, `vision`, `vllm`, `sampling`, `run`,
`task_params`) are checked by `video_pipeline.config` exactly as for `launch`, once per
task with that task's overrides applied; the workflow's keys are checked here in the
same style (key path, bad value, what is allowed). Everything is checked when Snakemake
parses the workflow, so a bad key fails before any job starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, WithJsonSchema, model_validator

from video_pipeline.config import Config, ConfigError
from video_pipeline.config.errors import Says, problem_error, problems
from video_pipeline.config.loader import validate
from video_pipeline.config.schema import TASK_PLACEHOLDER, ClipsConfig, Section, TaskSpec
from video_pipeline.config.tasks import check_task_params, task_config
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


def _cli_bool(value: Any) -> Any:
    """`--config fresh=true` reaches the config as the string 'true' (Snakemake's own
    parser only turns `True` and `False` into booleans); accept both spellings."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


CliBool = Annotated[
    bool,
    BeforeValidator(_cli_bool),
    WithJsonSchema(
        {"anyOf": [{"type": "boolean"}, {"type": "string", "pattern": "^(?i:true|false)$"}]}
    ),
]


class WorkflowSettings(Section):
    """The workflow's own top-level keys."""

    input: str = Field(description="JSONL, one video per line, a path or a URL ([Input](input.md))")
    tasks: Annotated[list[TaskSpec], Says(must="list at least one task", got=False)] = Field(
        min_length=1,
        description="one output per entry, `<outdir>/<name>.jsonl`: a task name, or a mapping "
        "of `name`, `task` (default: the name), `sampling` and `task_params` overrides",
    )
    outdir: str = Field("results", description="everything the run writes goes under this folder")
    num_shards: int = Field(1, ge=1, description="input split by a stable hash of each row's key")
    gpus_per_job: Annotated[int, Says(note=" (0 = CPU ranks)")] = Field(
        1,
        ge=0,
        description="GPUs per infer job, one torchrun rank per `vllm.tensor_parallel_size` of "
        "them; 0 = CPU ranks",
    )
    cpu_ranks: int = Field(1, ge=1, description="ranks per job when `gpus_per_job` is 0")
    device: Literal["auto", "cpu"] = Field(
        "auto",
        description="`auto`: ranks on the job's GPUs; `cpu`: ranks on CPU even when the job "
        "holds GPU ids (tests the scheduling)",
    )
    gpu_ids: list[Any] | None = Field(
        None, description="pool jobs claim GPU ids from; null = all visible GPUs"
    )
    gpu_lock_dir: str = Field(
        "/tmp/video-pipeline-gpu-locks",
        description="lock files of claimed ids (local disk)",
    )
    gpu_claim_timeout_s: Annotated[float | None, Says(note=" or null")] = Field(
        None, gt=0, description="give up waiting for free GPUs after this; null = wait"
    )
    fresh: CliBool = Field(
        False,
        description="jobs that run set their journals aside and start over (use with "
        "`--forcerun`, see [Workflow](workflow.md))",
    )
    share_decode: CliBool = Field(
        False,
        description="one job per shard runs every task, decoding each video once for the "
        "tasks on one model (see [Several tasks on one decode](launch.md))",
    )
    report: CliBool = Field(
        False,
        description="`all` also builds `<outdir>/report/index.html` (frames beside answers, "
        "quality flags, charts; see [Report](report.md))",
    )

    @model_validator(mode="after")
    def _across(self) -> WorkflowSettings:
        errs = []
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
        seen = set()
        for i, spec in enumerate(self.tasks):
            if spec.name in seen:
                errs.append(f"tasks[{i}].name {spec.name!r} is used twice; names must be unique")
            seen.add(spec.name)
        if errs:
            raise problem_error(errs)
        return self

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
    shell: Config  # the seed's sections, validated once; the tasks fill in the rest
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
        return " ".join(f"{k}={v}" for k, v in q.model_dump().items())

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
        data = {
            "input_jsonl": self.job_input(shard),
            "output_jsonl": self.layout.journal_stem(task, shard),
            "resume": cfg.data.resume and not self.settings.fresh,
            "base_dir": cfg.data.video_dir,
        }
        clips = cfg.clips.model_copy(update={"summary": False})
        cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update=data), "clips": clips})
        # a staged task reads its upstream's part of the same shard
        return with_records(cfg, {up: self.layout.part(up, shard) for up in self.after(task)})

    def after(self, task: str) -> list[str]:
        """The tasks whose parts of a shard the task's job of that shard reads."""
        return list(self.tasks[task].after or [])

    def summary_source(self, task: str) -> Config:
        """The clip task whose summary pass runs in work/{task}/summary/."""
        cfg = self.shard_config(task, self.layout.shard_name(0))
        data = cfg.data.model_copy(update={"output_jsonl": self.layout.summary_stem(task)})
        return cfg.model_copy(update={"data": data})

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
            "input_jsonl": self.job_input(shard),
            "output_jsonl": self.layout.journal_stem(TASK_PLACEHOLDER, shard),
            "base_dir": first.data.video_dir,
            "resume": first.data.resume and not self.settings.fresh,
        }
        group = self.shell.model_copy(
            update={
                "data": self.shell.data.model_copy(update=data),
                "clips": self.shell.clips.model_copy(update={"summary": False}),
                "tasks": list(self.tasks.values()),
            }
        )
        check_task_params(group)
        return group


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
    """Validate Snakemake's config mapping; raises ConfigError listing every problem.

    No I/O: a remote `input` is copied by `with_local_input`."""
    if not isinstance(config, dict):
        raise ConfigError([f"the top level must be a mapping, got {type(config).__name__}"])
    errs: list[str] = []
    base = {k: config[k] for k in SEED_SECTIONS if config.get(k) is not None}
    for path, instead in MANAGED.items():
        section, key = path.split(".")
        if isinstance(base.get(section), dict) and key in base[section]:
            errs.append(f"{path} is set by the workflow for each job; use `{instead}` instead")
    settings = _settings({k: v for k, v in config.items() if k not in SEED_SECTIONS}, errs)
    if settings is None:
        raise ConfigError(errs)
    layout = Layout(settings.outdir)
    tasks = {spec.name: spec for spec in settings.tasks}
    data = {**base.get("data", {}), "input_jsonl": settings.input}
    if is_remote(settings.input):  # relative video paths resolve against the remote folder
        from video_pipeline.storage.urls import parent

        data.setdefault("base_dir", parent(settings.input))
    data["output_jsonl"] = layout.journal_stem(TASK_PLACEHOLDER, layout.shard_name(0))
    try:
        shell = validate({**base, "data": data})
    except ConfigError as e:  # each task would run with these problems
        each = [f"tasks[{i}] ({n}): {p}" for i, n in enumerate(tasks) for p in e.problems]
        raise ConfigError(errs + each) from None
    configs: dict[str, Config] = {}
    for i, spec in enumerate(tasks.values()):
        where = f"tasks[{i}] ({spec.name})"
        stem = layout.journal_stem(spec.name, layout.shard_name(0))
        try:
            configs[spec.name] = one = task_config(shell, spec, stem)
            check_task_params(one)
        except ValidationError as e:
            over = {**shell.sampling.model_dump(), **spec.sampling}
            errs += [f"{where}: {p}" for p in problems(e, type(shell.sampling), over, "sampling")]
        except ConfigError as e:
            errs += [f"{where}: {p}" for p in e.problems]
    errs += _tensor_parallel_problems(settings, configs)
    if not errs:  # stages: `after`, templates, the fingerprint chain
        errs += _stage_problems(settings, tasks, configs)
    if errs:
        raise ConfigError(errs)
    wf = Workflow(settings, tasks, shell, layout, configs)
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


def _settings(raw: dict[str, Any], errs: list[str]) -> WorkflowSettings | None:
    """The workflow's own keys; problems go to `errs`. With bad entries of `tasks` alone,
    the good ones are returned to be checked too (every problem at once)."""
    try:
        return WorkflowSettings.model_validate(raw)
    except ValidationError as e:
        only_tasks = all(err["loc"][:1] == ("tasks",) and len(err["loc"]) > 2 for err in e.errors())
        settings = _good_tasks(raw) if only_tasks and not errs else None
        errs += problems(e, WorkflowSettings, raw, unknown=_unknown_key)
        return settings


def _good_tasks(raw: dict[str, Any]) -> WorkflowSettings | None:
    """The settings with the bad entries of `tasks` left out; None if that is not enough."""
    good = []
    for entry in raw.get("tasks") or []:
        try:
            good.append(TaskSpec.model_validate(entry))
        except ValidationError:
            continue
    try:
        return WorkflowSettings.model_validate({**raw, "tasks": good})
    except ValidationError:
        return None


def _unknown_key(key: str, allowed: list[str]) -> str:
    return f"unknown key {key!r}; allowed: {', '.join([*allowed, *SEED_SECTIONS])}"


def with_local_input(wf: Workflow) -> Workflow:
    """A remote `input` copied under `outdir` (again only when it changed): the jobs
    read the copy. Kept out of `load_workflow`, which does no I/O."""
    from video_pipeline.storage.inputs import local_input

    if not is_remote(wf.settings.input):
        return wf
    try:
        path = str(local_input(wf.settings.input, wf.shell.storage, wf.layout.inputs()))
    except ValueError as e:
        raise ConfigError([f"input: {e}"]) from None
    wf.settings = wf.settings.model_copy(update={"input": path})
    for name, cfg in wf.configs.items():
        wf.configs[name] = cfg.model_copy(
            update={"data": cfg.data.model_copy(update={"input_jsonl": path})}
        )
    return wf


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
