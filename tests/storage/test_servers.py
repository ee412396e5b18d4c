"""The loopback servers behave as the storage tests assume, seen through fsspec.

These also pin the exceptions fsspec/aiohttp/s3fs raise for each failure, which the
pipeline's error classification relies on: a library upgrade that changes them fails here.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import botocore.exceptions
import fsspec
import pytest

from tests.storage.servers import HttpVideoServer, S3Server, free_port

STALL_TIMEOUT = aiohttp.ClientTimeout(sock_read=1)
# One attempt, one-second timeouts: s3fs retries 5 times and botocore waits 60 s per read.
S3_IMPATIENT = {"read_timeout": 1, "connect_timeout": 1, "retries": {"total_max_attempts": 1}}


def http_fs(**kwargs: Any) -> fsspec.AbstractFileSystem:
    """A fresh HTTP filesystem: fsspec would hand back a cached one with old options."""
    return fsspec.filesystem("http", skip_instance_cache=True, **kwargs)


def s3_fs(**kwargs: Any) -> fsspec.AbstractFileSystem:
    return fsspec.filesystem("s3", skip_instance_cache=True, **kwargs)


def impatient_s3_fs(**kwargs: Any) -> fsspec.AbstractFileSystem:
    fs = s3_fs(config_kwargs=S3_IMPATIENT, **kwargs)
    fs.retries = 1  # a class attribute in s3fs, not a constructor argument
    return fs


# -- HTTP ------------------------------------------------------------------------------


def test_head_gives_the_size(http_server: HttpVideoServer, storage_videos: list[Path]) -> None:
    video = storage_videos[0]
    http_server.clear_requests()
    assert http_fs().info(f"{http_server.url}/{video.name}")["size"] == video.stat().st_size
    assert http_server.requests[0] == ("HEAD", f"/{video.name}", None)


def test_a_range_read_returns_those_bytes(
    http_server: HttpVideoServer, storage_videos: list[Path]
) -> None:
    video = storage_videos[1]
    http_server.clear_requests()
    got = http_fs().cat_file(f"{http_server.url}/{video.name}", start=10, end=100)
    assert got == video.read_bytes()[10:100]
    assert http_server.requests == [("GET", f"/{video.name}", "bytes=10-99")]


def test_a_missing_file_is_not_found(http_server: HttpVideoServer) -> None:
    fs, url = http_fs(), f"{http_server.url}/missing.mp4"
    with pytest.raises(FileNotFoundError):
        fs.info(url)
    with pytest.raises(FileNotFoundError):
        fs.cat_file(url)


def test_a_stalled_read_times_out(http_server: HttpVideoServer) -> None:
    """cat_file raises fsspec's FSTimeoutError; info() turns the same stall into a
    FileNotFoundError (after HEAD and GET each time out), with the timeout as cause."""
    fs, url = http_fs(client_kwargs={"timeout": STALL_TIMEOUT}), f"{http_server.url}/stall/a.mp4"
    began = time.monotonic()
    with pytest.raises(TimeoutError) as read:
        fs.cat_file(url)
    assert time.monotonic() - began < 5
    assert isinstance(read.value, fsspec.exceptions.FSTimeoutError)
    assert isinstance(read.value.__cause__, aiohttp.ServerTimeoutError)
    with pytest.raises(FileNotFoundError) as info:
        fs.info(url)
    assert isinstance(info.value.__cause__, aiohttp.ServerTimeoutError)


def test_private_files_need_the_token(
    http_server: HttpVideoServer, storage_videos: list[Path]
) -> None:
    """A 403 is a ClientResponseError from reads but a FileNotFoundError from info()."""
    video = storage_videos[2]
    url = f"{http_server.url}/private/{video.name}"
    with pytest.raises(aiohttp.ClientResponseError) as read:
        http_fs().cat_file(url)
    assert read.value.status == 403
    with pytest.raises(FileNotFoundError) as info:
        http_fs().info(url)
    assert getattr(info.value.__cause__, "status", None) == 403
    authorized = http_fs(headers={"Authorization": f"Bearer {http_server.token}"})
    assert authorized.cat_file(url) == video.read_bytes()
    assert authorized.info(url)["size"] == video.stat().st_size


def test_stop_is_prompt_with_a_stall_pending(tmp_path: Path) -> None:
    srv = HttpVideoServer(tmp_path).start()
    failures: list[BaseException] = []

    def stalled_get() -> None:
        try:
            http_fs().cat_file(f"{srv.url}/stall/x.mp4")
        except Exception as e:
            failures.append(e)

    client = threading.Thread(target=stalled_get, daemon=True)
    client.start()
    deadline = time.monotonic() + 5
    while not srv.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.requests == [("GET", "/stall/x.mp4", None)]
    began = time.monotonic()
    srv.stop()
    assert time.monotonic() - began < 2
    client.join(5)
    assert not client.is_alive()
    # The server drops the connection; aiohttp retries the GET and finds no listener.
    assert len(failures) == 1 and isinstance(failures[0], aiohttp.ClientConnectionError)


def test_a_stopped_server_refuses_connections() -> None:
    url = f"http://127.0.0.1:{free_port()}/a.mp4"
    with pytest.raises(aiohttp.ClientConnectorError):
        http_fs().cat_file(url)
    with pytest.raises(FileNotFoundError) as info:  # info() again says "not found"
        http_fs().info(url)
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectorError)


# -- S3 --------------------------------------------------------------------------------


def test_s3_lists_and_sizes_the_uploads(s3_server: S3Server, storage_videos: list[Path]) -> None:
    fs = s3_fs(**s3_server.storage_options())
    assert sorted(fs.find("videos")) == [f"videos/{v.name}" for v in storage_videos]
    video = storage_videos[0]
    assert fs.info(f"videos/{video.name}")["size"] == video.stat().st_size
    assert fs.cat_file(f"videos/{video.name}", start=10, end=100) == video.read_bytes()[10:100]


def test_s3_missing_keys_and_buckets_are_not_found(s3_server: S3Server) -> None:
    fs = s3_fs(**s3_server.storage_options())
    for path in ("videos/missing.mp4", "no-such-bucket/a.mp4"):
        with pytest.raises(FileNotFoundError):
            fs.info(path)
        with pytest.raises(FileNotFoundError):
            fs.cat_file(path)


def test_s3_wrong_credentials_are_a_permission_error(
    s3_server: S3Server, storage_videos: list[Path]
) -> None:
    path = f"videos/{storage_videos[0].name}"
    good = s3_server.enable_auth()
    try:
        assert s3_fs(**good).info(path)["size"] == storage_videos[0].stat().st_size
        for bad in (s3_server.storage_options(), {**good, "secret": "wrong"}):
            with pytest.raises(PermissionError):
                impatient_s3_fs(**bad).info(path)
            with pytest.raises(PermissionError):
                impatient_s3_fs(**bad).cat_file(path)
    finally:
        s3_server.disable_auth()
    assert s3_fs(**s3_server.storage_options()).info(path)["size"] > 0


def test_s3_against_a_stalling_endpoint_times_out(http_server: HttpVideoServer) -> None:
    """An S3 endpoint that never answers: botocore's ReadTimeoutError, not wrapped by s3fs."""
    fs = impatient_s3_fs(endpoint_url=f"{http_server.url}/stall", key="k", secret="s")
    began = time.monotonic()
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        fs.cat_file("videos/a.mp4", start=0, end=10)
    assert time.monotonic() - began < 10


def test_s3_refused_connection_is_an_endpoint_error() -> None:
    """Not an OSError: botocore's ConnectionError is its own class."""
    fs = impatient_s3_fs(endpoint_url=f"http://127.0.0.1:{free_port()}", key="k", secret="s")
    with pytest.raises(botocore.exceptions.EndpointConnectionError) as e:
        fs.info("videos/a.mp4")
    assert not isinstance(e.value, OSError)


def test_nested_s3_servers_share_state_until_the_last_stops(
    s3_server: S3Server, storage_videos: list[Path]
) -> None:
    """moto's state is process-global: an inner server must not wipe the outer's bucket."""
    with S3Server() as inner:
        inner.upload("scratch", storage_videos[0].parent, prefix="x/")
        assert s3_fs(**inner.storage_options()).exists(f"videos/{storage_videos[0].name}")
    fs = s3_fs(**s3_server.storage_options())
    assert len(fs.find("videos")) == len(storage_videos)
    assert len(fs.find("scratch")) == len(storage_videos)
