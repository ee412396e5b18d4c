"""The fingerprint: one hash of everything that changes an answer.

Records carry it; a resume skips only keys done under the same fingerprint, and a
changed fingerprint starts fresh (old journals are set aside), so old and new answers
never mix. It covers the model's identity (its files, not only its name), the task and
its code version, the prompt and task parameters, sampling, vision settings, the video
reader actually used, the answer-changing `vllm.engine_kwargs`, the clip settings
when clips are on, and what makes a key.
It leaves out what only changes speed (workers, batch size, logging, paths, and the
engine settings in THROUGHPUT_ENGINE_KWARGS), so changing those resumes finished work.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from video_pipeline.config.schema import Config
from video_pipeline.stages.plan import fingerprinted

# vllm.engine_kwargs that change how fast answers come, never what they are. Any other
# key (quantization, revision, tokenizer, hf_overrides, mm_processor_kwargs, ...) is
# part of the fingerprint.
THROUGHPUT_ENGINE_KWARGS = frozenset(
    {
        "max_num_seqs",
        "max_num_batched_tokens",
        "block_size",
        "swap_space",
        "cpu_offload_gb",
        "gpu_memory_utilization",
        "kv_cache_memory_bytes",
        "num_gpu_blocks_override",
        "enforce_eager",
        "compilation_config",
        "max_seq_len_to_capture",
        "enable_prefix_caching",
        "enable_chunked_prefill",
        "max_num_partial_prefills",
        "async_scheduling",
        "scheduling_policy",
        "mm_processor_cache_gb",
        "mm_processor_cache_type",
        "disable_log_stats",
        "distributed_executor_backend",
        "tensor_parallel_size",
        "pipeline_parallel_size",
        "disable_custom_all_reduce",
        "max_parallel_loading_workers",
    }
)

# Files of a model folder that decide its answers, beside the weights.
MODEL_FILES = (
    "config.json",
    "generation_config.json",
    "preprocessor_config.json",
    "video_preprocessor_config.json",
    "processor_config.json",
    "chat_template.json",
    "chat_template.jinja",
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "special_tokens_map.json",
    "added_tokens.json",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_SAMPLES = 4  # blocks read from each weight file, spread over it
_BLOCK = 65536


def fingerprint(cfg: Config, reader: str | None = None) -> str:
    """The fingerprint of a single-task config (see `task_configs` for a group);
    `reader` stands in for `vision.reader: auto` resolved (see `runner.state`)."""
    blob = json.dumps(payload(cfg, reader), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def payload(cfg: Config, reader: str | None = None) -> dict[str, Any]:
    """What the fingerprint hashes, readable (written beside the journals in run.json)."""
    from video_pipeline.tasks.registry import get_task_class

    v = cfg.vllm
    vision = cfg.vision.model_dump()
    vision.pop("frame_dtype")  # the same pixel values reach the model either way
    # the defaults give the frames configs had before these keys: keep their hash
    for key, same in (("resize", "exact"), ("decode_device", "cpu")):
        if vision[key] == same:
            vision.pop(key)
    if vision.pop("use_audio_in_video"):  # what the model hears, at the rate it hears it
        from video_pipeline.data.audio import SAMPLE_RATE

        vision["audio"] = {"use_audio_in_video": True, "sample_rate": SAMPLE_RATE}
    if cfg.vision.reader != "auto":
        reader = cfg.vision.reader
    elif reader is None:  # decodes a generated clip with each candidate
        from video_pipeline.data.video_reader import resolve_reader

        reader = resolve_reader("auto")
    vision["reader"] = reader  # readers sample frames differently
    out = {
        "model": model_identity(v.model, v.engine_kwargs.get("revision")),
        "dtype": v.dtype,
        "max_model_len": v.max_model_len,
        "seed": v.seed,
        "engine_kwargs": {
            k: val for k, val in v.engine_kwargs.items() if k not in THROUGHPUT_ENGINE_KWARGS
        },
        "task": cfg.run.task,
        "task_version": get_task_class(cfg.run.task).version,
        "task_params": fingerprinted(cfg.task_params),  # the upstream's, paths left out
        "sampling": cfg.sampling.model_dump(),
        "vision": vision,
        "video_field": cfg.data.video_field,
        "id_field": cfg.data.id_field,
    }
    clips = cfg.clips.fingerprint_payload()
    if clips is not None:  # absent when off, so configs without clips keep their hash
        out["clips"] = clips
    return out


def model_identity(model: str, revision: str | None = None) -> dict[str, Any]:
    """What identifies a model's answers: a local folder's files, a hub snapshot's commit.

    A folder is identified by its config, tokenizer, processor and chat-template files
    and by each weight file's size, safetensors header and a few sampled blocks, so a
    folder downloaded again in place with other weights is a different model. Reading
    is bounded (headers and 256 KiB a weight file), so a 72B model costs about a second.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return {"folder_digest": _folder_digest(str(path.resolve()))}
    commit = _hub_commit(model, revision)
    return {"hub": model, "commit": commit} if commit else {"hub": model, "revision": revision}


def _folder_digest(folder: str) -> str:
    root = Path(folder)
    stamp = tuple(
        (p.name, st.st_size, st.st_mtime_ns)
        for p in sorted(root.iterdir())
        if p.is_file() and (st := p.stat())
    )
    return _digest_of(folder, stamp)


@functools.lru_cache(maxsize=8)
def _digest_of(folder: str, stamp: tuple) -> str:
    """The digest of a folder, cached per process while no file's size or mtime changes."""
    root = Path(folder)
    h = hashlib.sha256()
    for name in MODEL_FILES:
        p = root / name
        if p.is_file():
            h.update(name.encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    for p in sorted(root.iterdir()):
        if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES):
            h.update(p.name.encode() + b"\0" + _weights_digest(p))
    return h.hexdigest()[:32]


def _weights_digest(path: Path) -> bytes:
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        if path.suffix == ".safetensors":
            head = f.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else 0
            if 0 < n <= 100 * 2**20:  # the header: every tensor's name, dtype, shape, offsets
                h.update(f.read(n))
        for i in range(_SAMPLES):
            f.seek(max(0, (size - _BLOCK) * i // max(1, _SAMPLES - 1)))
            h.update(f.read(_BLOCK))
    return h.digest()


def _hub_commit(repo: str, revision: str | None) -> str | None:
    """The commit of a hub model's cached snapshot, if it is in the local cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(repo, "config.json", revision=revision or "main")
    except ValueError:  # not a hub id either (a folder that does not exist)
        return None
    if isinstance(found, str) and os.sep + "snapshots" + os.sep in found:
        return Path(found).parent.name
    return None
