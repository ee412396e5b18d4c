"""Checks of the things a config points at, run before torchrun starts any rank."""

from __future__ import annotations

import logging
from pathlib import Path

from video_pipeline.config import Config, ConfigError
from video_pipeline.models import ModelProfile
from video_pipeline.models.hub import hub_problem, is_local

log = logging.getLogger("video_pipeline")


def check_paths(cfg: Config) -> None:
    errs = []
    inp = Path(cfg.data.input_jsonl)
    if not inp.is_file():
        errs.append(f"data.input_jsonl: no such file {str(inp)!r}")
    model = cfg.vllm.model
    if is_local(model):
        if not (Path(model).expanduser() / "config.json").is_file():
            errs.append(f"vllm.model: {model!r} is not a model directory (no config.json in it)")
    elif problem := hub_problem(model, cfg.vllm.engine_kwargs.get("revision")):
        errs.append(problem)  # at once, instead of a minute of retries in every rank
    out_dir = Path(cfg.data.output_jsonl).parent
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        errs.append(f"data.output_jsonl: cannot create its folder {str(out_dir)!r}: {e}")
    if errs:
        raise ConfigError(errs)


def check_model(cfg: Config) -> ModelProfile:
    """The model's family, and the vision settings checked in its pixel units.

    Raises ConfigError for an architecture no family serves (after loading
    `run.plugins`, which may register one) and for vision budgets the family cannot
    meet; logs a warning for budgets that are not whole pixel units.
    """
    from video_pipeline.models import UnsupportedModelError, resolve_profile
    from video_pipeline.plugins import load_plugins

    load_plugins(cfg.run.plugins)
    try:
        profile = resolve_profile(cfg.vllm.model)
    except UnsupportedModelError as e:
        raise ConfigError([str(e)]) from None
    from video_pipeline.engine.vllm_fixes import problems

    errors, warnings = profile.check_vision(cfg.vision)
    if cfg.vision.use_audio_in_video and not profile.hears:
        errors.append(
            f"vision.use_audio_in_video: {profile.label} ({cfg.vllm.model}) cannot hear audio; "
            "set it to false, or use an Omni model (Qwen2.5-Omni, Qwen3-Omni)"
        )
    limits = cfg.vllm.limit_mm_per_prompt or {}
    if cfg.vision.use_audio_in_video and limits.get("audio", 1) == 0:
        errors.append(
            "vllm.limit_mm_per_prompt.audio must be at least 1 with vision.use_audio_in_video "
            "(each video's audio is an item of its own), got 0"
        )
    errors += problems(profile.name, cfg.vllm.tensor_parallel_size, engine_in_process())
    for w in warnings:
        log.warning("%s", w)
    if errors:
        raise ConfigError(errors)
    return profile


def engine_in_process() -> bool:
    """Whether vLLM's engine core will run in the rank's process (the CPU default)."""
    import os

    from video_pipeline.devices import cuda_available

    default = "1" if cuda_available() else "0"
    return os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING", default) == "0"


def check_listeners(cfgs: list[Config]) -> None:
    """Tasks that take a video's soundtrack alone (`transcribe`) run on a model that
    hears it: a speech model (Whisper, no chat family) or an Omni family; a model that
    sees frames only would fail every sample."""
    from video_pipeline.tasks.registry import get_task_class

    errs = []
    for cfg in cfgs:
        if get_task_class(cfg.run.task).dataset_name != "audio":
            continue
        profile = chat_family(cfg.vllm.model)
        if profile is not None and not profile.hears:
            errs.append(
                f"task {cfg.run.task!r} takes the soundtrack alone: {profile.label} "
                f"({cfg.vllm.model}) cannot hear it; give the task a speech model "
                "(`vllm: {model: openai/whisper-large-v3}` in its entry of `tasks`) or use "
                "an Omni model (Qwen2.5-Omni, Qwen3-Omni)"
            )
    if errs:
        raise ConfigError(errs)


def chat_family(model: str) -> ModelProfile | None:
    """The model's family; None for a model of no chat family (a speech model, Whisper:
    the engine checks it)."""
    from video_pipeline.models import UnsupportedModelError, resolve_profile

    try:
        return resolve_profile(model)
    except (UnsupportedModelError, OSError, ValueError):
        return None


def check_engine(cfgs: list[Config], on_cpu: bool) -> None:
    """Engine settings that cannot work together, found before the model loads."""
    if not on_cpu:
        return
    from video_pipeline.engine.vllm_engine import seeded_cpu_problems

    seeded = any(c.sampling.seed is not None for c in cfgs)
    errs = seeded_cpu_problems(cfgs[0].vllm, seeded)
    if errs:
        raise ConfigError(errs)


PROBED_VIDEOS = 3  # remote videos asked for before any rank starts


def check_storage(cfg: Config) -> None:
    """The first few remote videos of the input, asked for (a HEAD or a stat) before the
    model loads: when the storage refuses every one (credentials), their host does not
    resolve, their bucket does not exist, or a protocol's library is missing, the run
    stops here with one message naming the storage prefix instead of in every rank (or
    with an error record for every video)."""
    import json

    from video_pipeline.errors import SampleError
    from video_pipeline.io.jsonl import iter_lines
    from video_pipeline.storage.cache import retrying
    from video_pipeline.storage.urls import filesystem, remote_url

    urls: list[str] = []
    base = cfg.data.video_dir
    for _off, _lineno, line in iter_lines(cfg.data.input_jsonl):
        try:
            value = json.loads(line).get(cfg.data.video_field)
        except (ValueError, AttributeError):
            continue
        url = remote_url(value, base) if isinstance(value, str) else None
        if url is not None:
            urls.append(url)
        if len(urls) >= PROBED_VIDEOS:
            break
    from video_pipeline.storage import probe

    for url in urls:  # before any fetch, whose retries would only say "failed"
        why = probe.unresolved(url, cfg.storage)
        if why is not None:
            raise ConfigError(
                [f"storage: {why}: no video of {probe.where(url, cfg.storage)} can be fetched"]
            )
    failures, fs = [], None
    for url in urls:
        try:
            fs, path = filesystem(url, cfg.storage)
            retrying(lambda fs=fs, path=path: fs.info(path), url, cfg.storage)
            return
        except SampleError as e:
            if e.kind == "internal_error":  # no library for the protocol
                raise ConfigError([f"storage: {e.message}"]) from None
            failures.append(e)
    if fs is not None and failures and all(e.kind == "video_not_found" for e in failures):
        bucket = probe.missing_bucket(fs, urls[0])
        if bucket is not None:
            raise ConfigError(
                [
                    f"storage: the bucket {bucket!r} does not exist: the first "
                    f"{len(failures)} remote videos ({urls[0]}, ...) cannot be found there; "
                    f"check the video URLs and {probe.where(urls[0], cfg.storage)}"
                ]
            )
    if failures and all(e.kind == "fetch_denied" for e in failures):
        prefix = max(
            (p for p in cfg.storage.prefixes if urls[0].startswith(p)), key=len, default=None
        )
        where = f"storage.{prefix!r}" if prefix else "the environment or profile"
        raise ConfigError(
            [
                f"storage: the first {len(failures)} remote videos were all refused "
                f"({failures[0].message}); check the credentials that {where} gives"
            ]
        )


def check_decode_device(cfg: Config) -> None:
    """`vision.decode_device: cuda` without a CUDA device fails here, before any model
    loads, rather than as a decode error on every video."""
    if cfg.vision.decode_device != "cuda":
        return
    import os

    # NVML's count: a plain is_available() would initialise CUDA in this process and
    # make every process forked from it unable to use CUDA.
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    import torch

    if torch.cuda.device_count() == 0:
        raise ConfigError(
            ["vision.decode_device: cuda, but no CUDA device is visible here (use cpu)"]
        )
    from video_pipeline.data.video_reader import resolve_reader

    reader = resolve_reader(cfg.vision.reader)
    if reader != "torchcodec":
        raise ConfigError(
            [f"vision.decode_device: cuda needs the torchcodec reader; vision.reader is {reader}"]
        )
