"""Output sets that are whole or absent: results and errors published with a manifest.

A merge writes several files (results, errors, a summary). Each is written to a
temporary file first; publishing removes the old manifest, renames every file into
place and writes the manifest last. The manifest names each file with its size and a
digest of its first and last bytes, so a reader can tell a complete set from one a
kill interrupted between two renames (new results beside old errors) and from files
changed since. Readers trust a set only when `problems()` finds none.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from video_pipeline.io.atomic import replace, write_json

_EDGE = 65536  # bytes digested at each end of a file


def file_entry(path: Path) -> dict[str, Any]:
    size = path.stat().st_size
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        h.update(f.read(_EDGE))
        if size > _EDGE:
            f.seek(max(_EDGE, size - _EDGE))
            h.update(f.read(_EDGE))
    return {"size": size, "digest": h.hexdigest()}


def publish(files: dict[str, tuple[Path, Path]], manifest: Path, summary: dict[str, Any]) -> None:
    """Rename each `name: (temp, final)` into place, then write `manifest` last.

    The temp files must be complete (see `io.atomic.Staged`); `summary` goes into the
    manifest beside the `files` it vouches for.
    """
    manifest.unlink(missing_ok=True)  # from here until the end, the set is incomplete
    entries = {}
    for name, (tmp, final) in files.items():
        replace(tmp, final)
        entries[name] = {"path": final.name, **file_entry(final)}
    write_json(manifest, {**summary, "files": entries})


def problems(manifest: Path) -> list[str]:
    """Why the set `manifest` vouches for cannot be trusted; empty when it can."""
    try:
        data = json.loads(manifest.read_text())
    except FileNotFoundError:
        return [f"{manifest} is missing: the merge that wrote this set did not finish"]
    except (OSError, json.JSONDecodeError) as e:
        return [f"{manifest} is unreadable: {e}"]
    out = []
    for name, entry in (data.get("files") or {}).items():
        path = manifest.parent / entry["path"]
        if not path.exists():
            out.append(f"{name} file {path} is missing")
        elif file_entry(path) != {k: entry[k] for k in ("size", "digest")}:
            out.append(f"{name} file {path} is not the one {manifest.name} lists")
    if not data.get("files"):
        out.append(f"{manifest} lists no files: it is not a manifest of this version")
    return out
