"""Model family registry, and which family a model folder belongs to.

`register_model_family(profile)` adds a family (a plugin module named in `run.plugins`
may call it); `resolve_profile(model)` reads the model's `config.json` and returns the
family whose `architectures` (else `model_types`) match, with the patch sizes the
checkpoint's `vision_config` declares. An architecture no family serves is an error
that names it and lists the supported ones, raised before any model loads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from video_pipeline.models.profile import ModelProfile
from video_pipeline.registry import Registry, RegistryError

MODEL_FAMILIES: Registry[ModelProfile] = Registry("model family", base_cls=ModelProfile)


class UnsupportedModelError(ValueError):
    """The model's architecture is served by no registered family (or its config
    cannot be read); the message says which and lists the supported families."""


def register_model_family(profile: ModelProfile) -> ModelProfile:
    MODEL_FAMILIES.check(profile)  # before its fields are read
    for name in MODEL_FAMILIES:
        other = MODEL_FAMILIES.get(name)
        shared = set(other.architectures) & set(profile.architectures)
        if other.name != profile.name and shared:
            raise RegistryError(
                f"model family {profile.name!r} claims {', '.join(sorted(shared))}, "
                f"already served by {other.name!r}"
            )
    return MODEL_FAMILIES.add(profile.name, profile)


def _builtins() -> None:
    import video_pipeline.models  # noqa: F401  (built-ins register on import)


def get_model_family(name: str) -> ModelProfile:
    _builtins()
    return MODEL_FAMILIES.get(name)


def available_model_families() -> list[ModelProfile]:
    _builtins()
    return [MODEL_FAMILIES.get(n) for n in MODEL_FAMILIES]


def supported_text() -> str:
    """`Qwen2-VL (Qwen2VLForConditionalGeneration), ...` for error messages."""
    return ", ".join(
        f"{p.label} ({', '.join(p.architectures or p.model_types)})"
        for p in available_model_families()
    )


def family_for_config(config: dict[str, Any], model: str = "the model") -> ModelProfile:
    """The family of a parsed `config.json`, with the checkpoint's own patch sizes."""
    archs = [a for a in config.get("architectures") or [] if isinstance(a, str)]
    model_type = config.get("model_type")
    families = available_model_families()
    match = next((p for a in archs for p in families if a in p.architectures), None)
    if match is None:
        match = next((p for p in families if model_type and model_type in p.model_types), None)
    if match is None:
        what = ", ".join(archs) or "no `architectures` entry"
        raise UnsupportedModelError(
            f"vllm.model: {model} is {what} (model_type {model_type!r}), which no model "
            f"family supports; supported: {supported_text()}. A plugin module in "
            "run.plugins can add one with video_pipeline.models.register_model_family"
        )
    return match.with_config(config)


def read_model_config(model: str) -> dict[str, Any]:
    """The model's `config.json` as a dict: from its folder, else the hub's cache."""
    folder = Path(model).expanduser()
    try:
        if folder.is_dir():
            return json.loads((folder / "config.json").read_text())
        from transformers import PreTrainedConfig

        config, _ = PreTrainedConfig.get_config_dict(model)
        return config
    except (OSError, ValueError) as e:
        raise UnsupportedModelError(
            f"vllm.model: cannot read the config.json of {model!r}: {type(e).__name__}: {e}"
        ) from None


# Per process, without a lock: decode workers are forked from ranks with threads, and
# a lock held at a fork would stay held in the child. Two threads resolving the same
# model at once only read its config.json twice.
_CACHE: dict[str, ModelProfile] = {}


def resolve_profile(model: str) -> ModelProfile:
    """The family of `model` (a folder or hub id); cached per process."""
    folder = Path(model).expanduser()
    key = str(folder.resolve()) if folder.is_dir() else model
    profile = _CACHE.get(key)
    if profile is None:
        profile = _CACHE[key] = family_for_config(read_model_config(model), repr(model))
    return profile


def profile_for_processor(processor: Any) -> ModelProfile:
    """The family of the model a processor was loaded from (`from_pretrained`)."""
    source = getattr(processor, "name_or_path", None) or getattr(
        getattr(processor, "tokenizer", None), "name_or_path", None
    )
    if not source:
        raise UnsupportedModelError(
            f"cannot tell the model family of {type(processor).__name__}: it was not "
            "loaded with from_pretrained; give the profile explicitly "
            "(video_pipeline.models.resolve_profile(model_dir))"
        )
    return resolve_profile(str(source))
