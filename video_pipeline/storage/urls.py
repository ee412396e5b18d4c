"""URLs: which values are remote, the filesystem of each, and what a failure means."""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import urlparse

from video_pipeline.config.schema import StorageConfig
from video_pipeline.errors import SampleError, describe_exception

# Protocols whose library is an extra of ours: the install line to print when missing.
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}


def is_remote(value: Any) -> bool:
    """A URL with a protocol other than file:// (one letter is a Windows drive)."""
    if not isinstance(value, str):
        return False
    scheme = urlparse(value).scheme
    return len(scheme) > 1 and scheme != "file"


def join(base: str, relative: str) -> str:
    """A relative path of a remote input's row, under the input's own folder."""
    return posixpath.join(base.rstrip("/") + "/", relative)


def remote_url(value: str, base: str | None) -> str | None:
    """The URL a row's video field names: itself when remote, a relative path under a
    remote input's folder (`base`), None for a local file."""
    if is_remote(value):
        return value
    if is_remote(base) and not value.startswith(("/", "~", "file:")):
        return join(str(base), value)
    return None


def parent(url: str) -> str:
    return url.rsplit("/", 1)[0] if "/" in url.split("://", 1)[1] else url


def filesystem(url: str, storage: StorageConfig) -> tuple[Any, str]:
    """fsspec's filesystem for `url` with its prefix's options, and the path in it.

    The timeout applies to connecting and to each read, so a stalled server fails the
    fetch (then retried) instead of holding a prefetch thread forever.
    """
    import fsspec

    protocol = urlparse(url).scheme
    options = _with_timeouts(protocol, storage.options_for(url), storage.timeout_s)
    try:
        fs, path = fsspec.core.url_to_fs(url, **options)
    except ImportError as e:
        raise SampleError("internal_error", missing_library(protocol, e)) from None
    except ValueError as e:  # "Protocol not known"
        raise SampleError("internal_error", f"cannot read {protocol}:// URLs: {e}") from None
    if protocol in ("s3", "s3a"):
        # s3fs tries each call 5 times on top of botocore (a class attribute, not an
        # argument): one try here, so a stalled endpoint costs storage.retries + 1 tries.
        fs.retries = 1
    return fs, path


def missing_library(protocol: str, e: BaseException) -> str:
    extra = EXTRAS.get(protocol)
    how = f"pip install 'video-pipeline[{extra}]'" if extra else f"pip install {e.name or e}"
    return f"reading {protocol}:// URLs needs a library that is not installed ({e}); run: {how}"


def _with_timeouts(protocol: str, options: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    options = dict(options)
    if protocol in ("http", "https"):
        import aiohttp

        client = dict(options.get("client_kwargs") or {})
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout_s, sock_read=timeout_s)
        client.setdefault("timeout", timeout)
        options["client_kwargs"] = client
    elif protocol in ("s3", "s3a"):
        config = dict(options.get("config_kwargs") or {})
        config.setdefault("connect_timeout", timeout_s)
        config.setdefault("read_timeout", timeout_s)
        config.setdefault("retries", {"total_max_attempts": 1})  # ours retry, with backoff
        options["config_kwargs"] = config
    return options


def classify(e: BaseException, url: str) -> SampleError:
    """A fetch failure as a sample error. fsspec's HTTP `info` turns every failure into a
    FileNotFoundError, with the real one as its cause: the cause decides."""
    seen = []
    cur: BaseException | None = e
    while cur is not None and len(seen) < 8:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    for err in seen:
        status = getattr(err, "status", None) or _botocore_status(err)
        if status in (401, 403) or isinstance(err, PermissionError):
            return SampleError("fetch_denied", f"access denied to {url}: {describe_exception(err)}")
        if status in (404, 410):
            return SampleError("video_not_found", f"no such object: {url}")
    if isinstance(e, FileNotFoundError) and len(seen) == 1:
        return SampleError("video_not_found", f"no such object: {url}")
    if isinstance(e, SampleError):
        return e
    return SampleError("fetch_error", f"fetching {url} failed: {describe_exception(seen[-1])}")


def retryable(e: BaseException) -> bool:
    """Worth another try: not a missing object, a denial or a missing library."""
    return classify(e, "").kind == "fetch_error"


def _botocore_status(err: BaseException) -> int | None:
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status else None
    return None
