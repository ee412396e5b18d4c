"""The output record: one per finished sample and task, a result or an error.

`Record` is what the runner writes to its journal and what every reader (merge,
verify, quality, export, report, clips roll-up, status, the failure watch) gets back
from `Record.from_dict`. On disk it is one JSON object per line, its fields in the
order of `to_dict`: the first three (`__key`, `status`, `fingerprint`) are read by the
fast resume scan (`io.journal.read_head`) and must stay first.

Fields this version does not know (a newer writer's, a user's post-processing) are
kept in `extra` and written back after the known ones, so reading and rewriting a
record never loses anything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from video_pipeline.io.keys import KEY_FIELD

OK = "ok"
ERROR = "error"


_ERROR_FIELDS = frozenset(("kind", "message", "transient"))


@dataclass(slots=True)
class RecordError:
    """Why a sample has no answer: a kind from `errors.ERROR_KINDS` and a message."""

    kind: str
    message: str
    transient: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Any) -> RecordError:
        if not isinstance(d, dict):
            return cls("unknown", str(d))
        return cls(
            kind=str(d.get("kind") or "unknown"),
            message=str(d.get("message") or ""),
            transient=bool(d.get("transient")),
            extra={}
            if _ERROR_FIELDS.issuperset(d)
            else {k: v for k, v in d.items() if k not in _ERROR_FIELDS},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "transient": self.transient,
            **self.extra,
        }


@dataclass(slots=True)
class Tokens:
    """The engine's token counts for one request."""

    prompt: int = 0
    generated: int = 0
    cached: int = 0

    @classmethod
    def from_dict(cls, d: Any) -> Tokens | None:
        if not isinstance(d, dict):
            return None
        get = d.get
        return cls(get("prompt") or 0, get("generated") or 0, get("cached") or 0)

    def to_dict(self) -> dict[str, int]:
        return {"prompt": self.prompt, "generated": self.generated, "cached": self.cached}


@dataclass(slots=True)
class Audio:
    """What the model heard of the video (`vision.use_audio_in_video`): whether it has
    an audio track, the seconds heard, and the prompt tokens they took."""

    present: bool = False
    seconds: float = 0.0
    tokens: int = 0

    @classmethod
    def from_dict(cls, d: Any) -> Audio | None:
        if not isinstance(d, dict):
            return None
        get = d.get
        return cls(bool(get("present")), get("seconds") or 0.0, get("tokens") or 0)

    def to_dict(self) -> dict[str, Any]:
        return {"present": self.present, "seconds": self.seconds, "tokens": self.tokens}


# Known fields in their on-disk order; `video_key`/`clip` only for a clip's record,
# `tokens`/`finish_reason` only where the engine answered, `audio` only where the task
# hears the video's audio.
_FIELDS = (
    KEY_FIELD, "status", "fingerprint", "task", "video_key", "clip", "raw", "rank", "time",
    "text", "result", "upstream", "error", "tokens", "finish_reason", "decode_s", "engine_s",
    "audio",
)  # fmt: skip
_KNOWN = frozenset(_FIELDS)


@dataclass(slots=True)
class Record:
    key: str
    status: str
    fingerprint: str = ""
    task: str = ""
    raw: Any = None
    rank: int = 0
    time: float = 0.0
    text: str | None = None
    result: Any = None
    error: RecordError | None = None
    tokens: Tokens | None = None
    finish_reason: str | None = None
    decode_s: float | None = None
    engine_s: float | None = None
    # A clip's record: the key of the video it was cut from and {index, start, end}
    video_key: str | None = None
    clip: dict[str, Any] | None = None
    # A staged task's record: what its prompt was given, {task: {text, result}}
    upstream: dict[str, Any] | None = None
    # With vision.use_audio_in_video: what the model heard
    audio: Audio | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def error_kind(self) -> str | None:
        """The error's kind for an error record, else None."""
        if self.ok:
            return None
        return self.error.kind if self.error is not None else "unknown"

    @property
    def transient(self) -> bool:
        """An error record a plain rerun tries again (see errors.ERROR_KINDS)."""
        return not self.ok and self.error is not None and self.error.transient

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Record:
        """A record from its parsed JSON line; tolerant of older and foreign writers.

        Kept lean (values are taken as written, not checked): readers call it for each
        of millions of records.
        """
        get = d.get
        error = get("error")
        tokens = get("tokens")
        clip = get("clip")
        video_key = get("video_key")
        audio = get("audio")
        return cls(
            str(d[KEY_FIELD]),
            str(get("status") or ""),
            str(get("fingerprint") or ""),
            str(get("task") or ""),
            get("raw"),
            get("rank") or 0,
            get("time") or 0.0,
            get("text"),
            get("result"),
            RecordError.from_dict(error) if error is not None else None,
            Tokens.from_dict(tokens) if tokens is not None else None,
            get("finish_reason"),
            get("decode_s"),
            get("engine_s"),
            str(video_key) if video_key is not None else None,
            clip if isinstance(clip, dict) else None,
            get("upstream"),
            Audio.from_dict(audio) if audio is not None else None,
            {} if _KNOWN.issuperset(d) else {k: v for k, v in d.items() if k not in _KNOWN},
        )

    def to_dict(self) -> dict[str, Any]:
        """The record as written to disk, its fields in the fixed order."""
        d: dict[str, Any] = {
            KEY_FIELD: self.key,
            "status": self.status,
            "fingerprint": self.fingerprint,
            "task": self.task,
        }
        if self.video_key is not None and self.clip is not None:
            d["video_key"] = self.video_key
            d["clip"] = self.clip
        d.update(raw=self.raw, rank=self.rank, time=self.time)
        d.update(text=self.text, result=self.result)
        if self.upstream is not None:
            d["upstream"] = self.upstream
        d["error"] = self.error.to_dict() if self.error is not None else None
        if self.tokens is not None:
            d["tokens"] = self.tokens.to_dict()
            d["finish_reason"] = self.finish_reason
        if self.decode_s is not None:
            d["decode_s"] = self.decode_s
        if self.engine_s is not None:
            d["engine_s"] = self.engine_s
        if self.audio is not None:
            d["audio"] = self.audio.to_dict()
        d.update(self.extra)
        return d

    @classmethod
    def new(cls, key: str, status: str, fingerprint: str, task: str, raw: Any, rank: int) -> Record:
        """A record stamped now, with a clip's `video_key` and `clip` lifted from its
        row (written by clip expansion) so readers need no knowledge of the row."""
        rec = cls(key, status, fingerprint, task, raw, rank, round(time.time(), 3))
        if isinstance(raw, dict) and KEY_FIELD in raw and "video_key" in raw:
            clip = raw.get("clip")
            if isinstance(clip, dict) and {"index", "start", "end"} <= clip.keys():
                rec.video_key, rec.clip = raw["video_key"], clip
        return rec
