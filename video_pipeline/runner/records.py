"""The journal record: one per finished sample, a result or an error."""

from __future__ import annotations

import time
from typing import Any

from video_pipeline.engine.base import Finished


def base_record(key: str, status: str, fingerprint: str, task: str, raw: Any, rank: int) -> dict:
    # The first three fields are read by the fast resume scan; keep their order.
    return {
        "__key": key,
        "status": status,
        "fingerprint": fingerprint,
        "task": task,
        **clip_fields(raw),
        "raw": raw,
        "rank": rank,
        "time": round(time.time(), 3),
    }


def clip_fields(raw: Any) -> dict:
    """`video_key` and `clip` of a clip's row (written by clip expansion), lifted to the
    record's top level so a reader needs no knowledge of the row; {} for other rows."""
    if not isinstance(raw, dict) or "__key" not in raw or "video_key" not in raw:
        return {}
    clip = raw.get("clip")
    if not isinstance(clip, dict) or not {"index", "start", "end"} <= clip.keys():
        return {}
    return {"video_key": raw["video_key"], "clip": clip}


def ok_record(
    key: str, fp: str, task: str, raw: Any, rank: int, out: Finished, result: dict, timing: dict
) -> dict:
    return {
        **base_record(key, "ok", fp, task, raw, rank),
        "text": out.text,
        "result": result,
        "error": None,
        **_tokens(out),
        **timing,
    }


def error_record(
    key: str,
    fp: str,
    task: str,
    raw: Any,
    rank: int,
    error: dict,
    out: Finished | None = None,
    timing: dict | None = None,
) -> dict:
    rec = {**base_record(key, "error", fp, task, raw, rank), "text": None, "result": None}
    rec["error"] = error
    if out is not None:  # the model answered but the answer was unusable: keep it
        rec["text"] = out.text
        rec.update(_tokens(out))
    rec.update(timing or {})
    return rec


def _tokens(out: Finished) -> dict:
    return {
        "tokens": {
            "prompt": out.prompt_tokens,
            "generated": out.generated_tokens,
            "cached": out.cached_tokens,
        },
        "finish_reason": out.finish_reason,
    }
