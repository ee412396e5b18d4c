"""A clip task's videos in the report: the roll-up's counts and a sample of videos, each
with its clips in time order and its summary beside them.

The roll-up (`<stem>.videos.jsonl`, clips/rollup.py) is read once, streaming: counts by
video status are exact; the videos shown are the SAMPLE with the smallest key hashes
(the same on every report), each with at most MAX_CLIPS clips and its summary record
(`<stem>.summary.jsonl`, found in one pass over the summary output). Memory and page
size stay bounded whatever the number of videos.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from pathlib import Path
from typing import Any

from video_pipeline.io.jsonl import iter_complete_lines
from video_pipeline.io.keys import KEY_FIELD, key_hash
from video_pipeline.quality import RecordSource

SAMPLE = 50  # videos shown per task
MAX_CLIPS = 120  # clips shown per video (a long video's first ones, the rest counted)
MAX_CAPTION = 400  # characters of a clip's caption or a summary


def videos_section(videos_jsonl: str | Path, summaries: RecordSource | None) -> dict[str, Any]:
    """`{"counts", "videos", "clips", "hours", "shown": [...]}` of one roll-up."""
    counts: Counter[str] = Counter()
    clips, seconds = 0, 0.0
    heap: list[tuple[int, str]] = []  # (-key hash, line) of the smallest hashes
    for line in iter_complete_lines(videos_jsonl):
        if not line.strip():
            continue
        video = json.loads(line)
        counts[str(video.get("status"))] += 1
        clips += len(video.get("clips") or [])
        seconds += float(video.get("duration") or 0.0)
        entry = (-key_hash(str(video[KEY_FIELD])), line)
        if len(heap) < SAMPLE:
            heapq.heappush(heap, entry)
        elif entry > heap[0]:
            heapq.heapreplace(heap, entry)
    shown = [_video(json.loads(line)) for _, line in sorted(heap, reverse=True)]
    if summaries is not None and shown:
        _add_summaries(shown, summaries)
    return {
        "videos": sum(counts.values()),
        "counts": dict(counts),
        "clips": clips,
        "hours": round(seconds / 3600, 3),
        "shown": shown,
    }


def _video(v: dict[str, Any]) -> dict[str, Any]:
    clips = v.get("clips") or []
    error = v.get("error")
    return {
        "key": str(v[KEY_FIELD]),
        "status": v.get("status"),
        "duration": v.get("duration"),
        "ok": v.get("ok"),
        "failed": v.get("failed"),
        "pending": v.get("pending"),
        "error": _error(error) if error else None,
        "clips": [_clip(c) for c in clips[:MAX_CLIPS]],
        "more_clips": max(0, len(clips) - MAX_CLIPS),
    }


def _clip(c: dict[str, Any]) -> dict[str, Any]:
    clip = c.get("clip") or {}
    out: dict[str, Any] = {
        "start": clip.get("start"),
        "end": clip.get("end"),
        "status": c.get("status"),
    }
    if c.get("status") == "ok":
        out["text"] = _cut(_caption(c.get("result"), c.get("text")))
    elif c.get("error"):
        out["error"] = _error(c["error"])
    return out


def _caption(result: Any, text: Any) -> str:
    if isinstance(result, dict) and len(result) == 1:
        result = next(iter(result.values()))
    if isinstance(result, str):
        return result
    if result is not None:
        return json.dumps(result, ensure_ascii=False, default=str)
    return text if isinstance(text, str) else ""


def _error(err: Any) -> str:
    if isinstance(err, dict):
        return _cut(f"{err.get('kind', 'unknown')}: {err.get('message', '')}")
    return _cut(str(err))


def _cut(s: str) -> str:
    return s if len(s) <= MAX_CAPTION else s[:MAX_CAPTION] + "…"


def _add_summaries(shown: list[dict[str, Any]], summaries: RecordSource) -> None:
    """Each shown video's summary record: its text, or its error."""
    by_key = {v["key"]: v for v in shown}
    for _, _, rec in summaries:
        video = by_key.get(rec.key)
        if video is None:
            continue
        if rec.ok:
            video["summary"] = {"text": _cut(_caption(rec.result, rec.text))}
        else:
            message = rec.error.message if rec.error is not None else ""
            video["summary"] = {"error": _cut(f"{rec.error_kind}: {message}")}
