"""What a failed probe of the first remote videos says about the storage as a whole.

A missing object is the row's problem; a bucket that does not exist or a host that
does not resolve fails every row the same way, and is the setup's: the run stops
before any model loads with one message naming the storage prefix, instead of
journaling a `video_not_found` or `fetch_error` record for every video.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlparse

from video_pipeline.config.schema import StorageConfig

OBJECT_STORES = ("s3", "s3a", "gs", "gcs")


def where(url: str, storage: StorageConfig) -> str:
    """How to name the setting that governs `url`: its `storage` prefix when one is
    configured, else the URL's root (`s3://bucket`, `https://host`)."""
    prefix = max((p for p in storage.prefixes if url.startswith(p)), key=len, default=None)
    u = urlparse(url)
    root = f"{u.scheme}://{u.netloc}"
    return f"storage prefix {prefix!r} ({root})" if prefix else f"{root} (no storage prefix)"


def host_of(url: str, storage: StorageConfig) -> str | None:
    """The host a fetch of `url` connects to: the URL's own for HTTP(S), the endpoint's
    for an object store given an `endpoint_url` (None: the provider's default)."""
    u = urlparse(url)
    if u.scheme in ("http", "https"):
        return u.hostname
    options = storage.options_for(url)
    client: Any = options.get("client_kwargs") or {}
    endpoint = options.get("endpoint_url") or client.get("endpoint_url")
    return urlparse(endpoint).hostname if isinstance(endpoint, str) else None


def unresolved(url: str, storage: StorageConfig) -> str | None:
    """Why the host of `url` does not resolve, or None when it does (or is not known)."""
    host = host_of(url, storage)
    if not host:
        return None
    try:
        socket.getaddrinfo(host, None)
    except socket.gaierror as e:
        return f"the host {host} does not resolve ({e.strerror or e})"
    except OSError:  # another network error: the fetches themselves will say
        return None
    return None


def missing_bucket(fs: Any, url: str) -> str | None:
    """The bucket of an object-store URL when it does not exist, else None."""
    if urlparse(url).scheme not in OBJECT_STORES:
        return None
    bucket = urlparse(url).netloc
    try:
        exists = fs.exists(bucket)
    except Exception:  # a denial, a network error: not a verdict on the bucket
        return None
    return None if exists else bucket
