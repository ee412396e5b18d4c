"""Sample keys: what makes two rows the same unit of work."""

from __future__ import annotations

import hashlib
from typing import Any

KEY_FIELD = "__key"


def row_key(row: dict[str, Any], video_field: str, id_field: str | None) -> str:
    """`row[id_field]` when set, else the video path exactly as written in the row.

    Without `id_field`, a row with `video_start` or `video_end` is a clip of its file
    and its key carries the bounds (`clip_key`), so clips of one file are separate
    samples; rows without bounds keep the bare path. A `__key` already in the row
    (written by the shard step from the original input) wins, so that keys stay the
    same whichever file a row is read from.
    """
    if KEY_FIELD in row:
        return str(row[KEY_FIELD])
    if id_field:
        if row.get(id_field) is None:
            raise KeyError(f"row has no id field {id_field!r}")
        return str(row[id_field])
    value = row.get(video_field)
    if value is None:
        raise KeyError(f"row has no video field {video_field!r}")
    key = value if isinstance(value, str) else repr(value)
    start, end = _bound(row.get("video_start")), _bound(row.get("video_end"))
    if start is None and end is None:
        return key
    return clip_key(key, start, end)


def format_seconds(t: float) -> str:
    """Seconds as written in a key: millisecond precision, no trailing zeros.

    `4.0 -> "4"`, `12.5 -> "12.5"`, `1/3 -> "0.333"`.
    """
    s = f"{t:.3f}".rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


def clip_key(video_key: str, start: float | None, end: float | None) -> str:
    """`<video key>#t=<start>,<end>`: the W3C Media Fragments temporal form, in seconds
    of the file itself. An open start is written empty (`#t=,12.5`), an open end is
    left out (`#t=4`)."""
    s = "" if start is None else format_seconds(start)
    if end is None:
        return f"{video_key}#t={s or '0'}"
    return f"{video_key}#t={s},{format_seconds(end)}"


def _bound(value: Any) -> float | None:
    """A row's clip bound in seconds; anything that is not a number counts as absent
    here (the dataset reports it when it reads the row)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def line_key(lineno: int) -> str:
    """Key of a line that is not a JSON object (1-based line number)."""
    return f"line:{lineno}"


def key_hash(key: str) -> int:
    """A stable 63-bit hash, used for sharding and compact done-key sets.

    Stable across processes and Python versions (unlike `hash`), so a key keeps its
    shard when rows are added to the input.
    """
    return key_hash_utf8(key.encode("utf-8", "surrogatepass"))


def key_hash_utf8(data: bytes) -> int:
    """`key_hash` of a key given as its UTF-8 bytes (hot paths skip the decode)."""
    digest = hashlib.blake2b(data, digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1
