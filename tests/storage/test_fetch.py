"""Fetching remote videos: the cache, its bound, the prefetcher, failures, the config.

Against real servers on loopback (tests/storage/servers.py): an aiohttp server with
range requests, and moto's S3 server.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tests.storage.servers import HttpVideoServer, S3Server
from video_pipeline.config import ConfigError, load_config
from video_pipeline.config.schema import StorageConfig
from video_pipeline.errors import ERROR_KINDS, SampleError
from video_pipeline.fingerprint import fingerprint
from video_pipeline.fixtures.videos import make_video_set
from video_pipeline.storage.cache import FetchCache
from video_pipeline.storage.inputs import local_input
from video_pipeline.storage.prefetch import END, Failed, Prefetcher
from video_pipeline.storage.urls import filesystem

TOKEN = "tok-123-secret"


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> list[Path]:
    return make_video_set(tmp_path_factory.mktemp("remote"), 5, width=64, height=48)


@pytest.fixture(scope="module")
def http(videos):
    with HttpVideoServer(videos[0].parent, token=TOKEN) as srv:
        yield srv


@pytest.fixture(scope="module")
def s3(videos):
    with S3Server() as srv:
        srv.upload("videos", videos[0].parent, prefix="clips/")
        yield srv


def drain(p: Prefetcher, on_ready=None, timeout: float = 60) -> list[int | Failed]:
    """Every item the prefetcher hands out, marking each sample decoded at once."""
    got: list[int | Failed] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = p.take()
        if item is END:
            return got
        if item is None:
            p.wait(0.2)
            continue
        got.append(item)
        if isinstance(item, int):
            if on_ready is not None:
                on_ready(item)
            p.done(item)
        else:
            p.done(item.index)
    raise AssertionError(f"prefetcher did not finish; got {got}")


def test_every_video_is_fetched_once_and_evicted_after_its_last_sample(tmp_path, http, videos):
    """Three samples of one video (its clips) share one fetch; local samples pass
    through; the cache ends empty."""
    urls = [f"{http.url}/{v.name}" for v in videos]
    order = [urls[0], urls[0], urls[0], None, urls[1], urls[2]]  # clips are adjacent rows
    cache = FetchCache(StorageConfig(), tmp_path / "cache")
    http.clear_requests()
    seen_local: dict[int, bytes] = {}

    def on_ready(i: int) -> None:
        if order[i] is not None:
            assert cache.path_for(order[i]).is_file()  # local before the decoder sees it
            seen_local[i] = cache.path_for(order[i]).read_bytes()

    p = Prefetcher(len(order), lambda i: order[i], cache, threads=2)
    got = drain(p, on_ready)
    p.close()
    assert sorted(got) == list(range(len(order)))
    gets = [r for r in http.requests if r[0] == "GET"]
    assert sorted(r[1] for r in gets) == sorted(f"/{v.name}" for v in videos[:3])
    assert cache.stats.fetches == 3 and cache.stats.cache_hits == 2
    assert cache.stats.fetched_bytes == sum(v.stat().st_size for v in videos[:3])
    assert seen_local[0] == seen_local[2] == videos[0].read_bytes()
    assert seen_local[5] == videos[2].read_bytes()
    assert not cache.folder.exists() or not any(cache.folder.iterdir())


def test_the_cache_stays_under_its_bound(tmp_path, http, videos):
    """With room for about two videos, no more than two are on disk at any time, and a
    slow decoder holds the fetches back instead of the disk filling up."""
    sizes = sorted(v.stat().st_size for v in videos)
    bound = sizes[-1] + sizes[-2]
    storage = StorageConfig(cache_gb=bound / 2**30, prefetch=4)
    cache = FetchCache(storage, tmp_path / "cache")
    urls = [f"{http.url}/{v.name}" for v in videos]
    peak = {"bytes": 0, "files": 0}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            files = [f for f in cache.folder.glob("*") if ".tmp" not in f.name]
            total = sum(f.stat().st_size for f in files if f.exists())
            peak["bytes"] = max(peak["bytes"], total)
            peak["files"] = max(peak["files"], len(files))
            time.sleep(0.005)

    t = threading.Thread(target=watch)
    t.start()
    p = Prefetcher(len(urls), lambda i: urls[i], cache, threads=4)
    got = drain(p, on_ready=lambda i: time.sleep(0.2))  # a decode takes a while
    stop.set()
    t.join()
    p.close()
    assert sorted(got) == list(range(len(urls)))
    assert 0 < peak["bytes"] <= bound
    assert peak["files"] <= 2


def test_missing_stalled_and_refused_videos_fail_alone(tmp_path, http, videos):
    """A missing object is the row's (`video_not_found`), a stalled server a transient
    `fetch_error` after the retries, a refusal `fetch_denied`; the others go through."""
    storage = StorageConfig(timeout_s=1, retries=1)
    cache = FetchCache(storage, tmp_path / "cache")
    order = [
        f"{http.url}/missing.mp4",
        f"{http.url}/stall/{videos[0].name}",
        f"{http.url}/private/{videos[1].name}",
        f"{http.url}/{videos[2].name}",
    ]
    t0 = time.monotonic()
    p = Prefetcher(len(order), lambda i: order[i], cache, threads=4)
    got = {(g.index if isinstance(g, Failed) else g): g for g in drain(p)}
    p.close()
    assert time.monotonic() - t0 < 20  # timeout 1 s, 2 tries, backoff 0.5 s
    assert got[0].kind == "video_not_found" and "missing.mp4" in got[0].message
    assert got[1].kind == "fetch_error" and ERROR_KINDS["fetch_error"].transient
    assert got[2].kind == "fetch_denied" and ERROR_KINDS["fetch_denied"].transient
    assert got[3] == 3
    assert cache.stats.retries >= 1


def test_prefix_options_carry_credentials_and_stay_out_of_logs(tmp_path, http, videos, capsys):
    """`storage: {"<url prefix>": {...}}` reaches fsspec for URLs under that prefix only;
    the config as logs and run.json show it has no secret, and it is not fingerprinted."""
    private = f"{http.url}/private/"
    data = {
        "data": {"input_jsonl": "in.jsonl", "output_jsonl": str(tmp_path / "o.jsonl")},
        "vllm": {"model": "m"},
        "storage": {
            "timeout_s": 5,
            private: {"headers": {"Authorization": f"Bearer {TOKEN}"}},
            "s3://other-bucket": {"anon": True},
        },
    }
    cfg = load_config(data=data, check_task=False)
    assert cfg.storage.options_for(private + "a.mp4")["headers"]["Authorization"].endswith(TOKEN)
    assert cfg.storage.options_for(f"{http.url}/a.mp4") == {}
    cache = FetchCache(cfg.storage, tmp_path / "cache")
    path = cache.fetch(private + videos[1].name)
    assert path.read_bytes() == videos[1].read_bytes()
    shown = json.dumps(cfg.shown())
    assert TOKEN not in shown and private in shown
    assert TOKEN in json.dumps(cfg.to_dict())  # the jobs' own config files keep it
    plain = load_config(data={**data, "storage": {}}, check_task=False)
    assert fingerprint(cfg) == fingerprint(plain)
    assert TOKEN not in capsys.readouterr().err


def test_storage_config_errors_name_the_key():
    base = {"data": {"input_jsonl": "i.jsonl", "output_jsonl": "o.jsonl"}, "vllm": {"model": "m"}}
    bad = {"cache_gb": 0, "prefetch": 0, "retries": -1}
    with pytest.raises(ConfigError) as e:
        load_config(data={**base, "storage": bad}, check_task=False)
    for key in ("storage.cache_gb", "storage.prefetch", "storage.retries"):
        assert key in str(e.value), e.value
    with pytest.raises(ConfigError) as e:
        load_config(data={**base, "storage": {"s3://b": "x", "cach": 1}}, check_task=False)
    assert "storage.s3://b must be a mapping of the filesystem's options" in str(e.value)
    assert "storage.cach is not a known key (did you mean cache_dir, cache_gb?)" in str(e.value)


def test_a_protocol_without_its_library_says_what_to_install():
    """gcsfs is an extra (`video-pipeline[gcs]`), not installed here."""
    with pytest.raises(SampleError) as e:
        filesystem("gs://bucket/video.mp4", StorageConfig())
    assert e.value.kind == "internal_error"
    assert "pip install 'video-pipeline[gcs]'" in e.value.message


def test_s3_objects_are_fetched_and_a_missing_key_is_not_found(tmp_path, s3, videos):
    prefix = "s3://videos/"
    storage = StorageConfig(prefixes={prefix: s3.storage_options()}, retries=0, timeout_s=5)
    cache = FetchCache(storage, tmp_path / "cache")
    url = f"{prefix}clips/{videos[3].name}"
    assert cache.size_of(url) == videos[3].stat().st_size
    assert cache.fetch(url).read_bytes() == videos[3].read_bytes()
    with pytest.raises(SampleError) as e:
        cache.size_of(f"{prefix}clips/missing.mp4")
    assert e.value.kind == "video_not_found"


def test_wrong_s3_credentials_are_a_denial(tmp_path, videos):
    """moto checking credentials: unknown keys are refused (`fetch_denied`)."""
    with S3Server() as srv:
        srv.upload("private", videos[0].parent)
        good = srv.enable_auth()
        bad = {**good, "key": "AKIAWRONGWRONGWRONG1", "secret": "wrong"}
        url = f"s3://private/{videos[0].name}"
        ok = FetchCache(StorageConfig(prefixes={"s3://private": good}, retries=0), tmp_path / "a")
        assert ok.size_of(url) == videos[0].stat().st_size
        refused = FetchCache(
            StorageConfig(prefixes={"s3://private": bad}, retries=0), tmp_path / "b"
        )
        with pytest.raises(SampleError) as e:
            refused.size_of(url)
        assert e.value.kind == "fetch_denied", e.value.message


def test_a_remote_input_is_copied_once_while_unchanged(tmp_path, http, videos):
    rows = videos[0].parent / "input.jsonl"
    rows.write_text("".join(json.dumps({"path": v.name}) + "\n" for v in videos))
    url = f"{http.url}/input.jsonl"
    http.clear_requests()
    first = local_input(url, StorageConfig(), tmp_path / "inputs")
    assert first.read_bytes() == rows.read_bytes()
    again = local_input(url, StorageConfig(), tmp_path / "inputs")
    assert again == first
    assert [r[0] for r in http.requests].count("GET") == 1  # the second was a HEAD only
    rows.write_text(rows.read_text() + json.dumps({"path": "more.mp4"}) + "\n")
    third = local_input(url, StorageConfig(), tmp_path / "inputs")
    assert third.read_bytes() == rows.read_bytes()
    with pytest.raises(ValueError, match=r"data.input_jsonl: cannot read .*video_not_found"):
        local_input(f"{http.url}/nope.jsonl", StorageConfig(retries=0), tmp_path / "inputs")


def test_a_stalled_s3_endpoint_costs_only_our_tries(tmp_path, http):
    """botocore and s3fs retry on their own (5 tries of 60 s reads by default): with
    one try each, a stalled endpoint fails after storage.retries + 1 timeouts."""
    options = {"endpoint_url": f"{http.url}/stall", "key": "k", "secret": "s"}
    storage = StorageConfig(prefixes={"s3://b": options}, timeout_s=1, retries=1)
    t0 = time.monotonic()
    with pytest.raises(SampleError) as e:
        FetchCache(storage, tmp_path / "cache").size_of("s3://b/v.mp4")
    assert e.value.kind == "fetch_error", e.value.message
    assert time.monotonic() - t0 < 10
