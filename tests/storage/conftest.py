"""Storage fixtures: a few tiny videos served over HTTP and from a moto S3 bucket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.storage.servers import HttpVideoServer, S3Server
from video_pipeline.fixtures.videos import make_video_set

HTTP_TOKEN = "storage-test-token"
BUCKET = "videos"


@pytest.fixture(scope="module")
def storage_videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three one-second clips (a few KiB each): enough for sizes, ranges and counts."""
    return make_video_set(tmp_path_factory.mktemp("storage-videos"), 3, seconds=1.0)


@pytest.fixture(scope="module")
def http_server(storage_videos: list[Path]) -> Iterator[HttpVideoServer]:
    """The videos at ``{url}/<name>``; ``/private/<name>`` needs ``srv.token``."""
    with HttpVideoServer(storage_videos[0].parent, token=HTTP_TOKEN) as srv:
        yield srv


@pytest.fixture(scope="module")
def s3_server(storage_videos: list[Path]) -> Iterator[S3Server]:
    """The videos as ``s3://videos/<name>``; connect with ``srv.storage_options()``."""
    with S3Server() as srv:
        srv.upload(BUCKET, storage_videos[0].parent)
        yield srv
