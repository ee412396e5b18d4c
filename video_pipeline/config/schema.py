"""The typed configuration: one pydantic model per YAML section.

Types, bounds and unknown keys are checked by pydantic from the fields (and exported
as JSON Schema to `schemas/`); checks across fields are model validators. Messages
are worded by `config.errors`: key path, the value found, what is allowed. Each
field's `description` is its line in docs/config.md (`python -m video_pipeline.config.docs`).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from video_pipeline.config.errors import Says, problem_error, problems

READERS = ("auto", "torchcodec", "decord")  # torchvision 0.28 has no io.read_video
DTYPES = ("auto", "bfloat16", "float16", "float32", "half", "float")
PREFIX_MARK = "://"  # a key of `storage` holding it is a URL prefix, not a setting
YAML = "yaml"  # validation context: the mapping is a config file's, not code's
TASK_PLACEHOLDER = "{task}"  # in data.output_jsonl when `tasks` lists several tasks


class Section(BaseModel):
    """A YAML section: unknown keys refused, no coercion (`"2"` is not an integer)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class DataConfig(Section):
    input_jsonl: str = Field(description="input JSONL, one video per row")
    output_jsonl: Annotated[str, Says(must="end with .jsonl")] = Field(
        pattern=r"\.jsonl$",
        description="merged output; rank journals are `<stem>.rank{r}.jsonl` beside it",
    )
    video_field: Annotated[str, Says(must="be a non-empty string", got=False)] = Field(
        "path",
        min_length=1,
        description="row field naming the video (path, `file://` URI, or URL)",
    )
    id_field: str | None = Field(
        None, description="row field used as the key; `null` = the video path as written"
    )
    resume: bool = Field(True, description="skip keys already journaled under the same fingerprint")
    num_workers: int = Field(
        0,
        ge=0,
        description="decode worker processes per rank (0 and 1 both mean one; set 2-8 per GPU)",
    )
    pin_memory: bool = Field(
        False,
        description="accepted for v0 configs; no effect: nothing is pinned (frames reach the "
        "engine through shared memory)",
    )
    prefetch_factor: int = Field(
        2, ge=1, description="decoded samples kept ready per worker, in units of `run.batch_size`"
    )
    # A run that reads rows from another file (shards, clip rows) keeps the user's folder.
    base_dir: str | None = Field(
        None,
        description="folder relative video paths resolve against; `null` = the input file's folder",
    )

    @property
    def video_dir(self) -> str:
        """The folder relative video paths of the rows resolve against (a URL's folder
        for a remote input)."""
        from pathlib import Path

        base = self.base_dir or str(Path(self.input_jsonl).parent)
        if "://" in base and not base.startswith("file://"):
            return base
        return str(Path(base).resolve())


class VisionConfig(Section):
    total_pixels: int | None = Field(
        None,
        gt=0,
        description="pixel budget over all frames of a video (qwen_vl_utils), in multiples of "
        "the family's pixel unit (28\\*28 or 32\\*32, see [Model families](models.md))",
    )
    min_pixels: int | None = Field(None, gt=0, description="minimum pixels per frame (same units)")
    max_pixels: int | None = Field(None, gt=0, description="maximum pixels per frame (same units)")
    fps: float | None = Field(
        2.0, gt=0, description="frames sampled per second (exclusive with `nframes`)"
    )
    nframes: Annotated[int | None, Says(note=" (frames are sampled in pairs)")] = Field(
        None, ge=2, description="fixed number of frames instead of `fps`"
    )
    min_frames: int | None = Field(None, gt=0, description="lower bound on the sampled frame count")
    max_frames: int | None = Field(None, gt=0, description="upper bound on the sampled frame count")
    reader: Literal["auto", "torchcodec", "decord"] = Field(
        "auto",
        description="`torchcodec`, `decord` or `auto` (first that works, checked at start-up); "
        "`torchvision` is refused: the pinned torchvision 0.28 has no `read_video`",
    )
    # uint8 frames hold the same values as qwen_vl_utils' float32 ones (whole 0-255
    # values, not resized again by the processor): answers are identical.
    frame_dtype: Literal["uint8", "float32"] = Field(
        "uint8",
        description="dtype of frames sent from decode workers: `uint8` is 1/4 of `float32`'s "
        "bytes with identical answers ([BENCHMARKS.md](../BENCHMARKS.md)); `float32` as in v0",
    )
    resize: Literal["exact", "fast"] = Field(
        "exact",
        description="how each decoded chunk is resized to the model's size (see [Decoding real "
        "videos](gpu.md#decoding-real-videos)): `exact` is qwen_vl_utils' own resize, "
        "bit-identical frames; `fast` is torch's uint8 bicubic kernel with antialias, several "
        "times cheaper, values within rounding of `exact` (in the fingerprint)",
    )
    decode_device: Literal["cpu", "cuda"] = Field(
        "cpu",
        description="`cuda`: decode with torchcodec's CUDA decoder (NVDEC) and resize on the GPU "
        "before the copy to host; needs `vision.reader` `torchcodec` (or `auto`) and a visible "
        "CUDA device, else the run stops before any model loads. Not measured yet "
        "(`benchmarks/gpu/decode_gpu.py` compares it with the CPU on a GPU machine); on an "
        "H200, torchvision's float bicubic resize on the GPU differed from the CPU's by at most "
        "1 level in 0.006% of pixels, so its frames are not bit-identical to `exact` (in the "
        "fingerprint)",
    )
    use_audio_in_video: bool = Field(
        False,
        description="the model also hears each video's audio track (the same clip range), as "
        "in the Qwen Omni tools; only for families that hear (Qwen2.5-Omni, Qwen3-Omni, see "
        "[Model families](models.md#audio-with-the-video-omni)); a video without audio is "
        "captioned from its frames (in the fingerprint)",
    )

    @model_validator(mode="after")
    def _across(self) -> VisionConfig:
        errs = []
        if "fps" in self.model_fields_set and self.fps is not None and self.nframes:
            errs.append("vision.fps and vision.nframes are exclusive: set one, the other to null")
        lo = self.min_pixels
        for hi_name in ("total_pixels", "max_pixels"):
            hi = getattr(self, hi_name)
            if lo is not None and hi is not None and lo > hi:
                errs.append(f"vision.min_pixels ({lo}) must be <= vision.{hi_name} ({hi})")
        if self.decode_device == "cuda" and self.reader not in ("auto", "torchcodec"):
            errs.append(
                f"vision.decode_device: cuda needs vision.reader torchcodec, got {self.reader!r}"
            )
        if self.min_frames and self.max_frames and self.min_frames > self.max_frames:
            errs.append(
                f"vision.min_frames ({self.min_frames}) must be <= "
                f"vision.max_frames ({self.max_frames})"
            )
        if errs:
            raise problem_error(errs)
        return self

    def video_element(self) -> dict[str, Any]:
        """The keys qwen_vl_utils reads from a message's video element."""
        keys = ("total_pixels", "min_pixels", "max_pixels", "min_frames", "max_frames")
        out = {k: getattr(self, k) for k in keys if getattr(self, k) is not None}
        if self.nframes is not None:
            out["nframes"] = self.nframes  # qwen_vl_utils accepts fps or nframes, not both
        elif self.fps is not None:
            out["fps"] = float(self.fps)
        return out


# Engine arguments that would make one engine span several ranks or more GPUs than
# vllm.tensor_parallel_size: each rank runs its own engine on its own GPUs (the ranks
# are the data parallelism), and GPUs are handed out by vllm.tensor_parallel_size.
_ONE = {
    "data_parallel_size": 1,
    "pipeline_parallel_size": 1,
    "prefill_context_parallel_size": 1,
    "nnodes": 1,
    "node_rank": 0,
}
_WHY = (
    "each rank runs its own engine on vllm.tensor_parallel_size GPUs; "
    "the ranks are the data parallelism"
)


def layout_problems(kwargs: dict[str, Any]) -> list[str]:
    """vllm.engine_kwargs that break the one-engine-per-rank layout, named by key."""
    errs = []
    key = "vllm.engine_kwargs"
    for name, value in kwargs.items():
        if name in _ONE and value != _ONE[name]:
            errs.append(f"{key}.{name} must be {_ONE[name]} ({_WHY}), got {value!r}")
        elif name.startswith("data_parallel_") and name != "data_parallel_size":
            errs.append(f"{key}.{name} must not be set ({_WHY}), got {value!r}")
        elif name == "tensor_parallel_size":
            errs.append(
                f"{key}.tensor_parallel_size must not be set (GPUs are handed to ranks by "
                f"vllm.tensor_parallel_size: set that instead), got {value!r}"
            )
    backend = kwargs.get("distributed_executor_backend")
    if backend == "external_launcher":
        errs.append(
            f"{key}.distributed_executor_backend must not be external_launcher (it makes "
            f"the launcher's ranks one engine; {_WHY}), got {backend!r}"
        )
    return errs


class VllmConfig(Section):
    model: Annotated[str, Says(must="name a model directory or hub id", got=False)] = Field(
        min_length=1,
        description="model directory or hub id; a hub id that is not in the local cache while "
        "`HF_HUB_OFFLINE` is set or the hub cannot be reached fails at launch, naming this key "
        "(a cached one then runs offline); a local path that does not exist stops the workflow "
        "when its DAG is parsed",
    )
    dtype: Literal["auto", "bfloat16", "float16", "float32", "half", "float"] = Field(
        "auto", description="`auto`, `bfloat16`, `float16`, `float32`"
    )
    max_model_len: int | None = Field(
        None, ge=1, description="context length (vLLM's default: the model's)"
    )
    gpu_memory_utilization: float = Field(
        0.9, gt=0, le=1, description="fraction of GPU memory vLLM may use"
    )
    enforce_eager: bool = Field(False, description="disable CUDA graphs")
    tensor_parallel_size: Annotated[
        int, Says(note=" (GPUs per engine; each rank runs one engine)")
    ] = Field(
        1,
        ge=1,
        description="GPUs per engine: each rank runs one engine on T GPUs (`launch --gpus` and "
        "`gpus_per_job` must be multiples of T)",
    )
    limit_mm_per_prompt: dict[str, int] = Field(
        default_factory=lambda: {"video": 1}, description="multimodal items per prompt"
    )
    trust_remote_code: bool = Field(
        False, description="the built-in families are native in transformers and vLLM"
    )
    enable_prefix_caching: bool | None = Field(None, description="vLLM's default when null")
    max_num_seqs: int | None = Field(
        None, ge=1, description="engine batch size; also sizes the in-flight window"
    )
    max_num_batched_tokens: int | None = Field(
        None, ge=1, description="vLLM's scheduler token budget"
    )
    seed: int = Field(0, description="engine seed")
    engine_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="any other `vllm.LLM(...)` argument, passed as is; arguments that would "
        "join ranks' engines or span more GPUs than `vllm.tensor_parallel_size` "
        "(`data_parallel_*`, `pipeline_parallel_size`, `nnodes`, `tensor_parallel_size`, "
        "`distributed_executor_backend: external_launcher`) are refused: the ranks are the "
        "data parallelism",
    )

    @model_validator(mode="after")
    def _across(self) -> VllmConfig:
        errs = []
        if self.limit_mm_per_prompt.get("video", 1) < 1:
            errs.append(
                "vllm.limit_mm_per_prompt.video must be >= 1 (each prompt carries one video), "
                f"got {self.limit_mm_per_prompt['video']}"
            )
        errs += layout_problems(self.engine_kwargs)
        if errs:
            raise problem_error(errs)
        return self


class SamplingConfig(Section):
    temperature: float = Field(0.2, ge=0, description="sampling temperature; 0 = greedy")
    top_p: float = Field(
        0.9, gt=0, le=1, description="sample from the likeliest tokens holding this probability"
    )
    top_k: int | None = Field(None, description="sample among the k likeliest tokens; null = all")
    max_tokens: int = Field(512, ge=1, description="most tokens generated per answer")
    repetition_penalty: float = Field(
        1.0, gt=0, description="penalty on tokens already in the prompt or answer; 1 = none"
    )
    seed: int | None = Field(None, description="per-request sampling seed (reproducible answers)")
    stop: list[str] = Field(default_factory=list, description="stop strings")
    extra: dict[str, Any] = Field(
        default_factory=dict, description="any other `SamplingParams` field"
    )


class RunConfig(Section):
    task: str = Field("describe", description="registered task name")
    batch_size: int = Field(
        2,
        ge=1,
        description="samples per prefetch unit (see `data.prefetch_factor`); never a generate "
        "barrier",
    )
    log_every: int = Field(20, ge=1, description="progress line every N finished samples")
    flush_every: int = Field(1, ge=1, description="flush the journal every N records")
    fsync_every: Annotated[int, Says(note=" (0 = never)")] = Field(
        10, ge=0, description="fsync the journal every N records (0 = only at the end)"
    )
    plugins: list[str] = Field(
        default_factory=list,
        description="modules imported in every rank before the task is looked up",
    )
    max_in_flight: int | None = Field(
        None,
        ge=1,
        description="requests in the engine at once; null = the engine's `max_num_seqs` (at "
        "most 128 when `run.max_in_flight_mb` is null)",
    )
    # The default suits a GPU with a host of 16 GB or more per GPU.
    max_in_flight_mb: Annotated[float | None, Says(note=" or null")] = Field(
        4096.0,
        gt=0,
        description="bytes of decoded samples a rank holds (frames and the processor's copy); "
        "no decode starts while over it; null = no bound",
    )
    render_threads: int = Field(
        1,
        ge=1,
        description="threads rendering requests (tokenize, budget, the model's processor) off "
        "the stepping thread; > 1 turns vLLM's processor cache off",
    )
    decode_timeout_s: Annotated[float | None, Says(note=" or null")] = Field(
        300.0,
        gt=0,
        description="a decode slower than this has its worker killed and becomes a "
        "`decode_timeout` error",
    )
    retry_errors: bool = Field(False, description="rerun samples whose records are errors")
    max_consecutive_failures: Annotated[int, Says(note=" (0 = never stop)")] = Field(
        16,
        ge=0,
        description="identical failures in a row that stop the rank as a broken setup (template, "
        "task code, decoder install) rather than bad videos; 0 = never",
    )
    thumbnails: bool = Field(
        True,
        description="keep 4 small JPEGs of each sample's frames beside the journals "
        "(`<stem>.rank<N>.strips`, merged to `<stem>.strips`) so the report decodes no video; "
        "not in the fingerprint",
    )


class QualityConfig(Section):
    """Thresholds of the caption quality checks (`quality.json`, the report, summaries).

    Not part of the fingerprint: they judge answers, they do not change them.
    """

    repetition_ngram: int = Field(
        4, ge=1, description="word n-grams compared by the repetition check"
    )
    repetition_threshold: float = Field(
        0.5,
        gt=0,
        le=1,
        description="flag `repetition` when more than this share of n-grams repeats",
    )
    near_duplicate_threshold: float = Field(
        0.9,
        gt=0,
        le=1,
        description="Jaccard similarity (word 3-grams) that counts as a near copy; `1` = exact "
        "copies only",
    )
    near_duplicate_num_perm: int = Field(
        128, ge=16, description="MinHash permutations (more: more accurate, slower)"
    )
    near_duplicate_max_answers: Annotated[int, Says(note=" (0 = exact copies only)")] = Field(
        50000,
        ge=0,
        description="answers compared by MinHash (a key-hash sample); exact copies are found "
        "among all; `0` = exact only",
    )
    length_outlier_z: float = Field(
        3.5,
        gt=0,
        description="flag `length_outlier` above this modified z-score of the generated length",
    )


_FINITE = Says(must="be a finite number {bound}", fmt="g")


class ClipsConfig(Section):
    """How each video is split into clips, each one sample (`none`: the whole video)."""

    mode: Literal["none", "fixed", "shots"] = Field(
        "none",
        description="`none` (whole videos), `fixed` windows or `shots` (see [Long videos: "
        "clips](clips.md))",
    )
    seconds: Annotated[float, _FINITE] = Field(
        30.0,
        gt=0,
        allow_inf_nan=False,
        description="window length (fixed); longest shot (shots)",
    )
    overlap: Annotated[float, _FINITE] = Field(
        0.0,
        ge=0,
        allow_inf_nan=False,
        description="seconds shared by consecutive fixed windows; < `seconds`; 0 for shots",
    )
    min_seconds: Annotated[float, _FINITE] = Field(
        2.0,
        gt=0,
        allow_inf_nan=False,
        description="a shorter tail joins the window before it; shorter shots merge; < `seconds`",
    )
    summary: bool = Field(
        False, description="one summary per video from its clip captions (needs a mode)"
    )
    summary_task: str = Field("clip_summary", description="registered task of the summary pass")
    summary_params: dict[str, Any] = Field(
        default_factory=dict, description="its `task_params` (`clip_summary`: `prompt`, `system`)"
    )

    @property
    def enabled(self) -> bool:
        return self.mode != "none"

    @model_validator(mode="after")
    def _across(self) -> ClipsConfig:
        errs = []
        if self.overlap >= self.seconds:
            errs.append(
                f"clips.overlap must be < clips.seconds ({self.seconds:g}), got {self.overlap:g}"
            )
        if self.min_seconds >= self.seconds:
            errs.append(
                f"clips.min_seconds must be < clips.seconds ({self.seconds:g}), "
                f"got {self.min_seconds:g}"
            )
        if self.mode == "shots" and self.overlap:
            errs.append(
                f"clips.overlap must be 0 with clips.mode: shots (shots meet at cuts; overlap "
                f"is for fixed windows), got {self.overlap:g}"
            )
        if self.summary and not self.enabled:
            errs.append("clips.summary needs clips.mode fixed or shots, got mode none")
        if errs:
            raise problem_error(errs)
        return self

    def fingerprint_payload(self) -> dict[str, Any] | None:
        """What changes clip answers (the clip bounds); None when clips are off, so
        fingerprints of configs without clips stay as they were. `summary` is a pass of
        its own and leaves the clips' answers alone."""
        if not self.enabled:
            return None
        return {k: getattr(self, k) for k in ("mode", "seconds", "overlap", "min_seconds")}


def _prefix_keys(schema: dict[str, Any]) -> None:
    """In YAML, each URL prefix is a key of `storage` itself."""
    prefixes = schema["properties"].pop("prefixes")
    schema["patternProperties"] = {PREFIX_MARK: prefixes["additionalProperties"]}


class StorageConfig(Section):
    """Remote videos and inputs (s3://, gs://, http(s)://, any fsspec protocol).

    Videos are fetched into a bounded local cache ahead of the decoders and removed once
    decoded. Not part of the fingerprint: where bytes come from does not change answers.
    """

    model_config = ConfigDict(json_schema_extra=_prefix_keys)

    cache_dir: str | None = Field(
        None,
        description="local folder remote videos are fetched into (one subfolder per rank); "
        "`null` = `video-pipeline-cache` in `$TMPDIR`",
    )
    cache_gb: Annotated[float, Says(fmt="g")] = Field(
        20.0,
        gt=0,
        description="fetched bytes a rank keeps on disk at once (a video is removed once decoded)",
    )
    prefetch: int = Field(
        4, ge=1, description="fetches in flight per rank, ahead of the decode workers"
    )
    timeout_s: Annotated[float, Says(fmt="g")] = Field(
        60.0, gt=0, description="connect and per-read timeout of one fetch"
    )
    retries: int = Field(
        3, ge=0, description="more tries of a failed fetch, with exponential backoff"
    )
    # Written as keys of `storage` itself (`"s3://bucket-a": {profile: a}`), never logged.
    prefixes: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="fsspec options for URLs under a prefix, written as keys of `storage`, e.g. "
        '`"s3://bucket-a": {profile: a, endpoint_url: ...}`; never logged',
    )

    @model_validator(mode="wrap")
    @classmethod
    def _split(
        cls, raw: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> StorageConfig:
        """`storage` in YAML mixes settings and URL prefixes: the prefixes go to
        `prefixes` (code passes `prefixes=` itself)."""
        if not isinstance(raw, dict) or not (info.context or {}).get(YAML):
            return handler(raw)
        errs = []
        if "prefixes" in raw:
            errs.append("storage.prefixes is not a key: write each URL prefix as a key of storage")
        out = {k: v for k, v in raw.items() if PREFIX_MARK not in str(k) and k != "prefixes"}
        out["prefixes"] = {}
        for key, options in raw.items():
            if PREFIX_MARK not in str(key):
                continue
            if not isinstance(options, dict):
                errs.append(
                    f"storage.{key} must be a mapping of the filesystem's options (fsspec), "
                    f"got {options!r}"
                )
            else:
                out["prefixes"][str(key)] = options
        try:
            cfg = handler(out)
        except ValidationError as e:
            errs += problems(e, cls, out, "storage")
        if errs:
            raise problem_error(errs)
        return cfg

    def options_for(self, url: str) -> dict[str, Any]:
        """The options of the longest prefix that `url` starts with."""
        best = max((p for p in self.prefixes if url.startswith(p)), key=len, default=None)
        return dict(self.prefixes[best]) if best is not None else {}

    def to_dict(self) -> dict[str, Any]:
        d = self.model_dump()
        d.update(d.pop("prefixes"))
        return d

    def redacted(self) -> dict[str, Any]:
        """For logs: prefixes and option names, no values."""
        d = self.to_dict()
        for prefix, options in self.prefixes.items():
            d[prefix] = {k: "***" for k in options}
        return d


def _name_or_mapping(schema: dict[str, Any]) -> None:
    """An entry of `tasks` may be just the name."""
    mapping = dict(schema)
    schema.clear()
    schema["anyOf"] = [mapping["properties"]["name"], mapping]


class TaskVision(Section):
    """The vision keys a task may set for itself: what it takes of the decode that the
    tasks on one engine share. The frames themselves are one setting for all."""

    use_audio_in_video: bool | None = Field(
        None,
        description="this task hears each video's audio track (true) or sees the frames "
        "alone (false); null: `vision.use_audio_in_video`",
    )


class TaskSpec(Section):
    """One entry of `tasks`: a registered task under an output name, with overrides."""

    model_config = ConfigDict(json_schema_extra=_name_or_mapping)

    name: Annotated[str, Says(must="be letters, digits, '_', '-' or '.' (it names files)")] = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="output name (letters, digits, _ - .); also the task by default",
    )
    task: str | None = Field(None, description="registered task to run; default: `name`")
    sampling: dict[str, Any] = Field(
        default_factory=dict, description="overrides of the sampling section for this task"
    )
    task_params: dict[str, Any] = Field(
        default_factory=dict, description="overrides of task_params for this task"
    )
    # Stages (video_pipeline/stages): null is a first-stage task
    after: list[str] | None = Field(
        None,
        description="tasks whose answers this task's prompt uses: a stage, its `prompt` "
        "a template (see [Stages](stages.md))",
    )
    vllm: dict[str, Any] = Field(
        default_factory=dict, description="this task's own engine section, over `vllm`"
    )
    vision: TaskVision = Field(
        default_factory=lambda: TaskVision(),
        description="what this task takes of each decoded video, over `vision` (see "
        "[Several tasks on one decode](launch.md))",
    )

    @model_validator(mode="before")
    @classmethod
    def _named(cls, raw: Any) -> Any:
        if isinstance(raw, str):
            return {"name": raw}
        if not isinstance(raw, (dict, TaskSpec)):
            raise problem_error([f"must be a task name or a mapping, got {raw!r}"], True)
        return raw

    @property
    def task_name(self) -> str:
        return self.task or self.name

    def sampling_over(self, base: SamplingConfig) -> SamplingConfig:
        """`base` with this task's sampling overrides; raises ValidationError."""
        return SamplingConfig.model_validate({**base.model_dump(), **self.sampling})

    def vision_over(self, base: VisionConfig) -> VisionConfig:
        """`base` with this task's own vision keys over it."""
        own = self.vision.model_dump(exclude_none=True)
        return base.model_copy(update=own) if own else base

    def vllm_over(self, base: VllmConfig) -> VllmConfig:
        """`base` with this task's own engine section over it; raises ValidationError."""
        if not self.vllm:
            return base
        return VllmConfig.model_validate({**base.model_dump(), **self.vllm})


SECTIONS = ("data", "vision", "vllm", "sampling", "run", "quality", "clips", "storage")


class Config(Section):
    """A `launch` config: the v0 sections, plus `tasks`, `quality`, `clips`, `storage`."""

    data: DataConfig
    vllm: VllmConfig
    vision: VisionConfig = Field(default_factory=VisionConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    task_params: dict[str, Any] = Field(
        default_factory=dict,
        description="parameters of the task (e.g. `prompt`, `fields`) and, under `dataset`, of "
        "its dataset",
    )
    # Several tasks over the same videos in one run: each video is decoded once and
    # every task's prompt is submitted for it. Empty: the single task `run.task`.
    tasks: Annotated[list[TaskSpec], Says(must="be a non-empty list of task names or mappings")] = (
        Field(
            default_factory=list,
            min_length=1,
            description="several tasks on one decode per video (see [Several tasks on one "
            "decode](launch.md)); exclusive with `run.task`",
        )
    )
    quality: QualityConfig = Field(default_factory=QualityConfig)
    clips: ClipsConfig = Field(default_factory=ClipsConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)

    unknown_key: ClassVar[str] = "unknown section {key!r}; allowed: {allowed}"

    @model_validator(mode="before")
    @classmethod
    def _absent_sections(cls, raw: Any) -> Any:
        """A section left empty (`vision:`) or out reads as `{}`; `tasks: null` as none."""
        if not isinstance(raw, dict):
            return raw
        out = {k: v for k, v in raw.items() if not (k == "tasks" and v is None)}
        for name in (*SECTIONS, "task_params"):
            if out.get(name) is None:
                out[name] = {}
        return out

    @model_validator(mode="after")
    def _across(self) -> Config:
        errs = []
        ds = self.task_params.get("dataset", {})
        if not isinstance(ds, dict):
            errs.append(f"task_params.dataset must be a mapping, got {type(ds).__name__}")
        errs += self._task_problems()
        if errs:
            raise problem_error(errs)
        return self

    def _task_problems(self) -> list[str]:
        if not self.tasks:
            return []
        errs = []
        seen = set()
        for i, spec in enumerate(self.tasks):
            if spec.name in seen:
                errs.append(f"tasks[{i}].name {spec.name!r} is used twice; names must be unique")
            seen.add(spec.name)
        if "task" in self.run.model_fields_set:
            errs.append("run.task and tasks are exclusive: list every task under tasks")
        if TASK_PLACEHOLDER not in self.data.output_jsonl:
            errs.append(
                f"data.output_jsonl must contain {TASK_PLACEHOLDER} when tasks is set (each task "
                f"writes its own output), got {self.data.output_jsonl!r}"
            )
        if errs:
            return errs
        for i, spec in enumerate(self.tasks):
            # A task's own sampling/vllm sections are checked merged over the shared ones.
            for section, cls, merge in (
                ("sampling", SamplingConfig, spec.sampling_over),
                ("vllm", VllmConfig, spec.vllm_over),
            ):
                base = getattr(self, section)
                try:
                    merge(base)
                except ValidationError as e:
                    over = {**base.model_dump(), **getattr(spec, section)}
                    found = problems(e, cls, over, section)
                    errs += [f"tasks[{i}] ({spec.name}): {p}" for p in found]
        if not errs:
            from video_pipeline.stages.check import structure_problems

            errs += structure_problems(self.tasks)
        return errs

    @property
    def dataset_params(self) -> dict[str, Any]:
        return dict(self.task_params.get("dataset") or {})

    @property
    def task_kwargs(self) -> dict[str, Any]:
        """task_params minus the dataset's own sub-mapping."""
        return {k: v for k, v in self.task_params.items() if k != "dataset"}

    def to_dict(self) -> dict[str, Any]:
        d = self.model_dump()
        if not self.tasks:
            d.pop("tasks")  # a single-task config keeps the seed's shape
        else:
            d["run"].pop("task")  # each entry of `tasks` names its own
        if not self.clips.enabled:
            d.pop("clips")  # a config without clips keeps the seed's shape
        if self.data.base_dir is None:
            d["data"].pop("base_dir")  # likewise
        if self.storage == StorageConfig():
            d.pop("storage")  # likewise
        else:
            d["storage"] = self.storage.to_dict()
        return d

    def shown(self) -> dict[str, Any]:
        """`to_dict` as files and logs that others read show it: storage options (keys,
        tokens) replaced by stars."""
        d = self.to_dict()
        if "storage" in d:
            d["storage"] = self.storage.redacted()
        return d
