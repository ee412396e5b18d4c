"""A remote `data.input_jsonl`, copied to local disk once.

Rows are read by byte offset many times (shards, ranks, merge), so the input is copied
beside the outputs and read from there. The copy is fetched again only when the remote
object's size or version (ETag, mtime) changed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from video_pipeline.config.schema import StorageConfig
from video_pipeline.errors import SampleError
from video_pipeline.io.atomic import Staged, write_json
from video_pipeline.storage.cache import retrying
from video_pipeline.storage.urls import filesystem, parent

_VERSION_KEYS = ("size", "ETag", "etag", "LastModified", "last_modified", "mtime", "generation")


def local_input(url: str, storage: StorageConfig, folder: str | Path) -> Path:
    """The local copy of input `url` in `folder`; raises ValueError naming the key."""
    name = PurePosixPath(urlparse(url).path).name or "input.jsonl"
    dest = Path(folder) / f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{name}"
    stamp = dest.with_name(dest.name + ".source.json")
    try:
        fs, path = filesystem(url, storage)
        info = retrying(lambda: fs.info(path), url, storage)
        version = {k: str(info[k]) for k in _VERSION_KEYS if info.get(k) is not None}
        seen = {"url": url, **version}
        if dest.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == seen:
            return dest
        with Staged(dest) as staged:
            retrying(lambda: fs.get_file(path, str(staged.tmp)), url, storage)
            staged.commit()
        write_json(stamp, seen, indent=None)
    except SampleError as e:
        raise ValueError(f"data.input_jsonl: cannot read {url}: {e.kind}: {e.message}") from None
    return dest


def input_overrides(url: str, storage: StorageConfig, folder: str | Path, base_dir: str | None):
    """`--set` overrides that make a run read the local copy of a remote input, with
    relative video paths still resolving against the input's remote folder."""
    local = local_input(url, storage, folder)
    return [
        f"data.input_jsonl={json.dumps(str(local))}",
        f"data.base_dir={json.dumps(base_dir or parent(url))}",
    ]
