"""Sample keys: what makes two rows the same unit of work."""

from __future__ import annotations

import hashlib
from typing import Any

KEY_FIELD = "__key"


def row_key(row: dict[str, Any], video_field: str, id_field: str | None) -> str:
    """`row[id_field]` when set, else the video path exactly as written in the row.

    A `__key` already in the row (written by the shard step from the original input)
    wins, so that keys stay the same whichever file a row is read from.
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
    return value if isinstance(value, str) else repr(value)


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
