"""The typed configuration: one dataclass per YAML section.

Each section checks its own values in `check`, returning messages that name the key
path, the bad value and what is allowed. Structure (unknown keys, types) is checked by
the loader before any `check` runs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

READERS = ("auto", "torchcodec", "decord")  # torchvision 0.28 has no io.read_video
DTYPES = ("auto", "bfloat16", "float16", "float32", "half", "float")


@dataclass
class DataConfig:
    input_jsonl: str
    output_jsonl: str
    video_field: str = "path"
    id_field: str | None = None
    resume: bool = True
    num_workers: int = 0
    pin_memory: bool = False
    prefetch_factor: int = 2
    # Folder relative video paths resolve against; null: the input file's folder. A run
    # that reads rows from another file (shards, clip rows) keeps the user's folder.
    base_dir: str | None = None

    def check(self) -> list[str]:
        errs = []
        if not self.video_field:
            errs.append("data.video_field must be a non-empty string")
        if self.num_workers < 0:
            errs.append(f"data.num_workers must be >= 0, got {self.num_workers}")
        if self.prefetch_factor < 1:
            errs.append(f"data.prefetch_factor must be >= 1, got {self.prefetch_factor}")
        if not self.output_jsonl.endswith(".jsonl"):
            errs.append(f"data.output_jsonl must end with .jsonl, got {self.output_jsonl!r}")
        return errs

    @property
    def video_dir(self) -> str:
        """The folder relative video paths of the rows resolve against (a URL's folder
        for a remote input)."""
        base = self.base_dir or str(Path(self.input_jsonl).parent)
        if "://" in base and not base.startswith("file://"):
            return base
        return str(Path(base).resolve())


@dataclass
class VisionConfig:
    total_pixels: int | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None
    fps: float | None = 2.0
    nframes: int | None = None
    min_frames: int | None = None
    max_frames: int | None = None
    reader: Literal["auto", "torchcodec", "decord"] = "auto"
    # Frames leave DataLoader workers as uint8, a quarter of float32's bytes, with the
    # same values (qwen_vl_utils' float32 frames hold whole 0-255 values, and the
    # processor is told not to resize them again): answers are identical. float32 is
    # the seed's behaviour. Measured in benchmarks/bench_uint8.py.
    frame_dtype: Literal["uint8", "float32"] = "uint8"
    # Frames are decoded a few at a time, each chunk resized to the model's size.
    # exact: qwen_vl_utils' own resize, bit-identical frames; fast: torch's uint8
    # bicubic kernel, about 10x cheaper, values within rounding (BENCHMARKS.md).
    resize: Literal["exact", "fast"] = "exact"
    # cuda: torchcodec's CUDA decoder, resized on the GPU before the copy to host
    decode_device: Literal["cpu", "cuda"] = "cpu"

    def check(self) -> list[str]:
        errs = []
        for name in ("total_pixels", "min_pixels", "max_pixels", "fps", "min_frames", "max_frames"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                errs.append(f"vision.{name} must be > 0, got {v}")
        if self.nframes is not None and self.nframes < 2:
            errs.append(
                f"vision.nframes must be >= 2 (frames are sampled in pairs), got {self.nframes}"
            )
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
        return errs

    def video_element(self) -> dict[str, Any]:
        """The keys qwen_vl_utils reads from a message's video element."""
        keys = ("total_pixels", "min_pixels", "max_pixels", "min_frames", "max_frames")
        out = {k: getattr(self, k) for k in keys if getattr(self, k) is not None}
        if self.nframes is not None:
            out["nframes"] = self.nframes  # qwen_vl_utils accepts fps or nframes, not both
        elif self.fps is not None:
            out["fps"] = float(self.fps)
        return out


@dataclass
class VllmConfig:
    model: str
    dtype: str = "auto"
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    enforce_eager: bool = False
    tensor_parallel_size: int = 1
    limit_mm_per_prompt: dict[str, int] = field(default_factory=lambda: {"video": 1})
    trust_remote_code: bool = False
    enable_prefix_caching: bool | None = None
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    seed: int = 0
    engine_kwargs: dict[str, Any] = field(default_factory=dict)

    def check(self) -> list[str]:
        errs = []
        if not self.model:
            errs.append("vllm.model must name a model directory or hub id")
        if self.dtype not in DTYPES:
            errs.append(f"vllm.dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.tensor_parallel_size < 1:
            errs.append(
                "vllm.tensor_parallel_size must be >= 1 (GPUs per engine; each rank runs "
                f"one engine), got {self.tensor_parallel_size}"
            )
        if not 0 < self.gpu_memory_utilization <= 1:
            errs.append(
                f"vllm.gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization}"
            )
        for name in ("max_model_len", "max_num_seqs", "max_num_batched_tokens"):
            v = getattr(self, name)
            if v is not None and v < 1:
                errs.append(f"vllm.{name} must be >= 1, got {v}")
        if self.limit_mm_per_prompt.get("video", 1) < 1:
            errs.append(
                "vllm.limit_mm_per_prompt.video must be >= 1 (each prompt carries one video), "
                f"got {self.limit_mm_per_prompt['video']}"
            )
        errs += layout_problems(self.engine_kwargs)
        return errs


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


@dataclass
class SamplingConfig:
    temperature: float = 0.2
    top_p: float = 0.9
    top_k: int | None = None
    max_tokens: int = 512
    repetition_penalty: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> list[str]:
        errs = []
        if self.temperature < 0:
            errs.append(f"sampling.temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            errs.append(f"sampling.top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            errs.append(f"sampling.max_tokens must be >= 1, got {self.max_tokens}")
        if self.repetition_penalty <= 0:
            errs.append(f"sampling.repetition_penalty must be > 0, got {self.repetition_penalty}")
        return errs


@dataclass
class RunConfig:
    task: str = "describe"
    batch_size: int = 2
    log_every: int = 20
    flush_every: int = 1
    fsync_every: int = 10
    plugins: list[str] = field(default_factory=list)
    max_in_flight: int | None = None
    # Bytes of decoded samples (frames, and the processor's copy) a rank holds at once:
    # no new decode starts while over it. The default suits a GPU with a host of
    # 16 GB or more per GPU; null = no bound (the request count alone).
    max_in_flight_mb: float | None = 4096.0
    # Threads running the model's processor over decoded frames, off the stepping thread.
    # More than one turns vLLM's processor cache off (it must see requests in order).
    render_threads: int = 1
    decode_timeout_s: float | None = 300.0
    retry_errors: bool = False
    # Samples in a row failing with the same kind and message that stop the rank as a
    # broken setup (template, task code, decoder install) rather than bad videos; 0 = never.
    max_consecutive_failures: int = 16
    # Keep a few small JPEGs of each sample's frames beside the journals (strips.py), so
    # the report shows thumbnails without decoding the videos again.
    thumbnails: bool = True

    def check(self) -> list[str]:
        errs = []
        for name in ("batch_size", "log_every", "flush_every"):
            if getattr(self, name) < 1:
                errs.append(f"run.{name} must be >= 1, got {getattr(self, name)}")
        if self.fsync_every < 0:
            errs.append(f"run.fsync_every must be >= 0 (0 = never), got {self.fsync_every}")
        if self.max_in_flight is not None and self.max_in_flight < 1:
            errs.append(f"run.max_in_flight must be >= 1, got {self.max_in_flight}")
        if self.max_in_flight_mb is not None and self.max_in_flight_mb <= 0:
            errs.append(f"run.max_in_flight_mb must be > 0 or null, got {self.max_in_flight_mb}")
        if self.render_threads < 1:
            errs.append(f"run.render_threads must be >= 1, got {self.render_threads}")
        if self.decode_timeout_s is not None and self.decode_timeout_s <= 0:
            errs.append(f"run.decode_timeout_s must be > 0 or null, got {self.decode_timeout_s}")
        if self.max_consecutive_failures < 0:
            errs.append(
                "run.max_consecutive_failures must be >= 0 (0 = never stop), "
                f"got {self.max_consecutive_failures}"
            )
        return errs


@dataclass
class QualityConfig:
    """Thresholds of the caption quality checks (`quality.json`, the report, summaries).

    Not part of the fingerprint: they judge answers, they do not change them.
    """

    repetition_ngram: int = 4  # word n-grams compared by the repetition check
    repetition_threshold: float = 0.5  # flag when this share of an answer's n-grams repeats
    near_duplicate_threshold: float = 0.9  # Jaccard similarity of word 3-grams; 1 = exact only
    near_duplicate_num_perm: int = 128  # MinHash permutations (accuracy vs time)
    near_duplicate_max_answers: int = 50000  # answers compared by MinHash (a key-hash sample)
    length_outlier_z: float = 3.5  # modified z-score of the answer length

    def check(self) -> list[str]:
        errs = []
        if self.repetition_ngram < 1:
            errs.append(f"quality.repetition_ngram must be >= 1, got {self.repetition_ngram}")
        for name in ("repetition_threshold", "near_duplicate_threshold"):
            v = getattr(self, name)
            if not 0 < v <= 1:
                errs.append(f"quality.{name} must be in (0, 1], got {v}")
        if self.near_duplicate_num_perm < 16:
            errs.append(
                f"quality.near_duplicate_num_perm must be >= 16, got {self.near_duplicate_num_perm}"
            )
        if self.near_duplicate_max_answers < 0:
            errs.append(
                "quality.near_duplicate_max_answers must be >= 0 (0 = exact copies only), "
                f"got {self.near_duplicate_max_answers}"
            )
        if self.length_outlier_z <= 0:
            errs.append(f"quality.length_outlier_z must be > 0, got {self.length_outlier_z}")
        return errs


@dataclass
class ClipsConfig:
    """How each video is split into clips, each one sample (`none`: the whole video)."""

    mode: Literal["none", "fixed", "shots"] = "none"
    seconds: float = 30.0  # window length (fixed); longest shot (shots)
    overlap: float = 0.0  # seconds shared by consecutive fixed windows
    min_seconds: float = 2.0  # a shorter tail joins the window before it; shorter shots merge
    summary: bool = False  # also write one summary per video from its clip captions
    summary_task: str = "clip_summary"  # the registered task of the summary pass
    summary_params: dict[str, Any] = field(default_factory=dict)  # its task_params

    @property
    def enabled(self) -> bool:
        return self.mode != "none"

    def check(self) -> list[str]:
        errs = []
        for name, lo in (("seconds", "> 0"), ("overlap", ">= 0"), ("min_seconds", "> 0")):
            v = getattr(self, name)
            if not math.isfinite(v) or (v < 0 if lo == ">= 0" else v <= 0):
                errs.append(f"clips.{name} must be a finite number {lo}, got {v:g}")
        if errs:
            return errs
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
        return errs

    def fingerprint_payload(self) -> dict[str, Any] | None:
        """What changes clip answers (the clip bounds); None when clips are off, so
        fingerprints of configs without clips stay as they were. `summary` is a pass of
        its own and leaves the clips' answers alone."""
        if not self.enabled:
            return None
        return {k: getattr(self, k) for k in ("mode", "seconds", "overlap", "min_seconds")}


@dataclass
class StorageConfig:
    """Remote videos and inputs (s3://, gs://, http(s)://, any fsspec protocol).

    Videos are fetched into a bounded local cache ahead of the decoders and removed once
    decoded. Not part of the fingerprint: where bytes come from does not change answers.
    """

    # Local folder of the fetch cache (each rank uses a folder of its own under it);
    # null: video-pipeline-cache under the system's temporary folder ($TMPDIR).
    cache_dir: str | None = None
    cache_gb: float = 20.0  # fetched bytes a rank keeps on disk at once
    prefetch: int = 4  # fetches in flight per rank
    timeout_s: float = 60.0  # connect and per-read timeout of one fetch
    retries: int = 3  # more tries of a failed fetch, with exponential backoff
    # Options of fsspec's filesystem per URL prefix (`"s3://bucket-a": {profile: ...}`):
    # written as keys of `storage` itself; never logged (see `redacted`).
    prefixes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def check(self) -> list[str]:
        errs = []
        if not self.cache_gb > 0:
            errs.append(f"storage.cache_gb must be > 0, got {self.cache_gb:g}")
        if self.prefetch < 1:
            errs.append(f"storage.prefetch must be >= 1, got {self.prefetch}")
        if not self.timeout_s > 0:
            errs.append(f"storage.timeout_s must be > 0, got {self.timeout_s:g}")
        if self.retries < 0:
            errs.append(f"storage.retries must be >= 0, got {self.retries}")
        for prefix, options in self.prefixes.items():
            if not isinstance(options, dict):
                errs.append(
                    f"storage.{prefix!r} must be a mapping of filesystem options, "
                    f"got {type(options).__name__}"
                )
        return errs

    def options_for(self, url: str) -> dict[str, Any]:
        """The options of the longest prefix that `url` starts with."""
        best = max((p for p in self.prefixes if url.startswith(p)), key=len, default=None)
        return dict(self.prefixes[best]) if best is not None else {}

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d.update(d.pop("prefixes"))
        return d

    def redacted(self) -> dict[str, Any]:
        """For logs: prefixes and option names, no values."""
        d = self.to_dict()
        for prefix, options in self.prefixes.items():
            d[prefix] = {k: "***" for k in options}
        return d


PREFIX_MARK = "://"  # a key of `storage` holding it is a URL prefix, not a setting


@dataclass
class TaskSpec:
    """One entry of `tasks`: a registered task under an output name, with overrides."""

    name: str
    task: str | None = None  # registered task; default: `name`
    sampling: dict[str, Any] = field(default_factory=dict)
    task_params: dict[str, Any] = field(default_factory=dict)
    # Stages (video_pipeline/stages): tasks whose answers the prompt uses, and this
    # task's own engine section (merged over `vllm`). None: a first-stage task.
    after: list[str] | None = None
    vllm: dict[str, Any] = field(default_factory=dict)

    @property
    def task_name(self) -> str:
        return self.task or self.name


TASK_PLACEHOLDER = "{task}"  # in data.output_jsonl when `tasks` lists several tasks


@dataclass
class Config:
    data: DataConfig
    vllm: VllmConfig
    vision: VisionConfig = field(default_factory=VisionConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    run: RunConfig = field(default_factory=RunConfig)
    task_params: dict[str, Any] = field(default_factory=dict)
    # Several tasks over the same videos in one run: each video is decoded once and
    # every task's prompt is submitted for it. Empty: the single task `run.task`.
    tasks: list[TaskSpec] = field(default_factory=list)
    quality: QualityConfig = field(default_factory=QualityConfig)
    clips: ClipsConfig = field(default_factory=ClipsConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)

    def check(self) -> list[str]:
        """Checks across sections (each section checks itself in the loader)."""
        errs: list[str] = []
        ds = self.task_params.get("dataset", {})
        if not isinstance(ds, dict):
            errs.append(f"task_params.dataset must be a mapping, got {type(ds).__name__}")
        return errs

    @property
    def dataset_params(self) -> dict[str, Any]:
        return dict(self.task_params.get("dataset") or {})

    @property
    def task_kwargs(self) -> dict[str, Any]:
        """task_params minus the dataset's own sub-mapping."""
        return {k: v for k, v in self.task_params.items() if k != "dataset"}

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
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
