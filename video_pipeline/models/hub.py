"""A hub model id on a machine that cannot reach the hub, found before any rank starts.

Without a network, transformers and vLLM retry the hub for a minute or more before they
fail with a message that does not name the config key. Here a hub id is checked once,
in the launcher: with `HF_HUB_OFFLINE` set or the hub unreachable (one request with a
short timeout), a model missing from the local cache is a config error naming
`vllm.model` at once; a cached one runs offline (the ranks inherit `HF_HUB_OFFLINE=1`).
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

log = logging.getLogger("video_pipeline")

PROBE_TIMEOUT_S = 5.0
_TRUE = {"1", "ON", "YES", "TRUE"}


def is_local(model: str) -> bool:
    """A model folder (or a path meant as one), not a hub id."""
    return model.startswith(("/", "./", "../", "~")) or Path(model).expanduser().exists()


def offline() -> bool:
    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return env.upper() in _TRUE


def cached(model: str, revision: str | None = None) -> bool:
    """The model's config.json is in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(model, "config.json", revision=revision)
    except ValueError:  # not a valid hub id
        return False
    return isinstance(found, str)


def unreachable(endpoint: str, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """Why the hub at `endpoint` cannot be reached, or None if it answers at all."""
    try:
        urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout_s)
    except urllib.error.HTTPError:
        return None  # it answered
    except (urllib.error.URLError, OSError) as e:
        return str(getattr(e, "reason", e))
    return None


def hub_problem(model: str, revision: str | None = None) -> str | None:
    """Why the hub id `model` cannot load here, or None (a folder, reachable, cached)."""
    if is_local(model):
        return None
    from huggingface_hub import constants

    if cached(model, revision):
        if not offline() and unreachable(constants.ENDPOINT) is not None:
            log.warning(
                "the hub (%s) cannot be reached: using the cached copy of %r offline",
                constants.ENDPOINT,
                model,
            )
            go_offline()
        return None
    fix = f"download it first (`hf download {model}`) or set vllm.model to a model directory"
    if offline():
        return (
            f"vllm.model: {model!r} is a hub id that is not in the local cache "
            f"({constants.HF_HUB_CACHE}) and HF_HUB_OFFLINE is set: {fix}"
        )
    why = unreachable(constants.ENDPOINT)
    if why is not None:
        return (
            f"vllm.model: {model!r} is a hub id that is not in the local cache "
            f"({constants.HF_HUB_CACHE}) and the hub ({constants.ENDPOINT}) cannot be "
            f"reached ({why}): {fix}"
        )
    return None


def go_offline() -> None:
    """This process and the ranks it starts read the hub's cache only."""
    from huggingface_hub import constants

    os.environ["HF_HUB_OFFLINE"] = "1"
    constants.HF_HUB_OFFLINE = True
