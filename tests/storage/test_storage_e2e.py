"""End to end from storage: launch over an input on an HTTP server whose rows name
videos on disk, on the same HTTP server and in S3 (moto), killed with -9 and resumed
after two rows naming new remote videos were added to the input.

The same video read from disk, HTTP or S3 gets the same answer; keys are the rows'
`id`; a missing object, a stalled server and a refused credential each cost only
their own row (or stop the run before the model loads, when every video is refused,
its bucket does not exist or its host does not resolve).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import cli_env, demo_config, read_jsonl, run_cli, vision_for, write_config
from tests.storage.servers import HttpVideoServer, S3Server
from video_pipeline.fixtures.videos import make_video_set
from video_pipeline.io.journal import journal_paths

pytestmark = pytest.mark.e2e

TOKEN = "bearer-token-e2e-7f3a"
N = 4


@pytest.fixture(scope="module")
def site(tmp_path_factory, tiny_model):
    """Videos on disk, on an HTTP server and in a bucket; the input on the HTTP server."""
    root = tmp_path_factory.mktemp("storage-e2e")
    videos = make_video_set(root / "site", N, seconds=2.0, fps=8)
    with HttpVideoServer(root / "site", token=TOKEN) as http, S3Server() as s3:
        s3.upload("videos", root / "site", prefix="clips/")
        rows = []
        for i, v in enumerate(videos):
            rows += [
                {"id": f"disk-{i}", "path": str(v)},
                {"id": f"http-{i}", "path": v.name},  # relative: under the input's URL
                {"id": f"s3-{i}", "path": f"s3://videos/clips/{v.name}"},
            ]
        rows += [
            {"id": "private-1", "path": f"private/{videos[1].name}"},
            {"id": "http-missing", "path": "missing.mp4"},
            {"id": "s3-missing", "path": "s3://videos/clips/missing.mp4"},
            {"id": "stalled", "path": f"stall/{videos[0].name}"},
        ]
        (root / "site" / "input.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        yield {"root": root, "http": http, "s3": s3, "rows": rows, "videos": videos}


def storage_config(site, token: str = TOKEN) -> dict:
    s3 = site["s3"].storage_options()
    size = max(v.stat().st_size for v in site["videos"])
    return {
        "cache_dir": str(site["root"] / "cache"),
        "cache_gb": 2.5 * size / 2**30,  # room for two videos at a time
        "prefetch": 2,
        "timeout_s": 2,
        "retries": 1,
        "s3://videos": s3,
        f"{site['http'].url}/private/": {"headers": {"Authorization": f"Bearer {token}"}},
    }


def launch_config(site, model, name: str, **storage) -> Path:
    root = site["root"]
    raw = demo_config(
        model,
        f"{site['http'].url}/input.jsonl",
        root / name / "res.jsonl",
        vision=vision_for(model),
        data={"id_field": "id"},
        sampling={"max_tokens": 48, "temperature": 0},
        run={"max_in_flight": 2, "fsync_every": 1},
    )
    raw["storage"] = {**storage_config(site), **storage}
    return write_config(root / f"{name}.yaml", raw)


def journal_records(out: Path) -> list[dict]:
    return [r for p in journal_paths(out) for r in read_jsonl(p)]


def add_late_rows(site) -> None:
    """Rows naming videos nobody fetched yet, one on HTTP and one in S3: the rerun must
    fetch them however far the killed run got."""
    late = site["root"] / "late"
    late.mkdir()
    shutil.copy(site["videos"][2], site["root"] / "site" / "late-2.mp4")
    shutil.copy(site["videos"][3], late / "late-3.mp4")
    site["s3"].upload("videos", late, prefix="clips/")
    rows = [
        {"id": "http-late", "path": "late-2.mp4"},
        {"id": "s3-late", "path": "s3://videos/clips/late-3.mp4"},
    ]
    with (site["root"] / "site" / "input.jsonl").open("a") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
    site["rows"] += rows


@pytest.fixture(scope="module")
def resumed(site, tiny_model):
    """The run killed with -9 mid-way (the stalled row keeps it open), then rerun."""
    cfg = launch_config(site, tiny_model, "run")
    out = site["root"] / "run" / "res.jsonl"
    cmd = [sys.executable, "-m", "video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "1"]
    launch = subprocess.Popen(
        cmd,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while len(journal_records(out)) < 3:
            assert launch.poll() is None, "the run ended before the kill"
            assert time.monotonic() < deadline, "no results after 300 s"
            time.sleep(0.05)
    finally:
        os.killpg(launch.pid, signal.SIGKILL)
        launch.wait()
    time.sleep(1.0)
    killed = journal_records(out)
    add_late_rows(site)
    proc = run_cli("video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "1", "--merge")
    return {"out": out, "killed": killed, "stderr": proc.stderr}


def test_resume_after_kill_gives_each_row_once(site, resumed):
    out = resumed["out"]
    ids = [r["id"] for r in site["rows"]]
    assert 3 <= len(resumed["killed"]) < len(ids), "the kill must land mid-run"
    records = journal_records(out)
    done_before = {
        r["__key"] for r in resumed["killed"] if not r["error"] or not r["error"]["transient"]
    }
    again = [r["__key"] for r in records[len(resumed["killed"]) :] if r["__key"] in done_before]
    assert again == [], "the rerun repeated finished rows"
    merged = read_jsonl(out) + read_jsonl(out.with_name("res.errors.jsonl"))
    assert sorted(r["__key"] for r in merged) == sorted(ids)
    assert f"skipped={len(done_before)}" in resumed["stderr"]


def test_disk_http_and_s3_give_the_same_answers(site, resumed):
    ok = {r["__key"]: r for r in read_jsonl(resumed["out"])}
    for i in range(N):
        texts = {ok[f"{src}-{i}"]["text"] for src in ("disk", "http", "s3")}
        assert len(texts) == 1, texts
        assert ok[f"s3-{i}"]["raw"]["path"].startswith("s3://")  # the row as written
    assert ok["private-1"]["text"] == ok["disk-1"]["text"]  # the prefix's header let it in
    assert ok["http-late"]["text"] == ok["disk-2"]["text"]
    assert ok["s3-late"]["text"] == ok["disk-3"]["text"]


def test_failures_are_per_row_with_their_kind(resumed):
    errors = {
        r["__key"]: r["error"] for r in read_jsonl(resumed["out"].with_name("res.errors.jsonl"))
    }
    assert errors["http-missing"]["kind"] == "video_not_found"
    assert errors["s3-missing"]["kind"] == "video_not_found"
    assert errors["stalled"]["kind"] == "fetch_error" and errors["stalled"]["transient"]
    assert set(errors) == {"http-missing", "s3-missing", "stalled"}


def test_the_cache_is_emptied_and_fetches_are_reported(site, resumed):
    cache = site["root"] / "cache"
    left = [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    assert left == []
    stats = json.loads((resumed["out"].parent / "res.rank0.stats.json").read_text())
    late = sum(site["videos"][i].stat().st_size for i in (2, 3))
    assert stats["fetch"]["fetches"] >= 2 and stats["fetch"]["fetched_bytes"] >= late
    assert "fetched=" in resumed["stderr"] and " MiB/s)" in resumed["stderr"]


def test_credentials_stay_out_of_logs_and_outputs(site, resumed):
    secret = site["s3"].storage_options()["secret"]
    out_dir = resumed["out"].parent
    texts = [resumed["stderr"]] + [
        p.read_text() for p in out_dir.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl")
    ]
    assert not [t for t in texts if TOKEN in t]
    run_json = json.loads((out_dir / "res.run.json").read_text())
    assert run_json["config"]["storage"]["s3://videos"]["secret"] == "***"
    assert secret == "testing"  # moto's dummy: checked in the servers' own tests


def test_refused_credentials_stop_before_the_model_loads(site, tiny_model, tmp_path):
    """Every video behind a wrong token: one message naming the prefix, no engine."""
    rows = [{"id": f"p{i}", "path": f"private/{v.name}"} for i, v in enumerate(site["videos"])]
    (site["root"] / "site" / "private.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows)
    )
    cfg = launch_config(site, tiny_model, "refused")
    raw = yaml.safe_load(cfg.read_text())
    raw["data"]["input_jsonl"] = f"{site['http'].url}/private.jsonl"
    raw["storage"] = storage_config(site, token="wrong")
    write_config(cfg, raw)
    t0 = time.monotonic()
    proc = run_cli("video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "1", check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "the first 3 remote videos were all refused" in proc.stderr
    assert f"storage.'{site['http'].url}/private/'" in proc.stderr
    assert "Loading weights" not in proc.stderr and time.monotonic() - t0 < 60
    assert journal_paths(site["root"] / "refused" / "res.jsonl") == []


def launch_over(site, tiny_model, tmp_path: Path, name: str, urls: list[str], **storage):
    """`launch` over a local input naming `urls`; it must stop before the model loads."""
    inp = tmp_path / f"{name}.jsonl"
    inp.write_text(
        "".join(json.dumps({"id": f"r{i}", "path": u}) + "\n" for i, u in enumerate(urls))
    )
    cfg = launch_config(site, tiny_model, name)
    raw = yaml.safe_load(cfg.read_text())
    raw["data"]["input_jsonl"] = str(inp)
    raw["storage"] = {**raw["storage"], **storage}
    write_config(cfg, raw)
    t0 = time.monotonic()
    proc = run_cli("video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "1", check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Loading weights" not in proc.stderr and time.monotonic() - t0 < 60
    assert journal_paths(site["root"] / name / "res.jsonl") == []  # no error per video
    return proc.stderr


def test_a_bucket_that_does_not_exist_stops_the_run(site, tiny_model, tmp_path):
    """Every video in a missing bucket: one message naming the bucket and its storage
    prefix, not a `video_not_found` record per video."""
    urls = [f"s3://no-such-bucket/clips/{v.name}" for v in site["videos"]]
    err = launch_over(
        site,
        tiny_model,
        tmp_path,
        "nobucket",
        urls,
        **{"s3://no-such-bucket": site["s3"].storage_options()},
    )
    assert "the bucket 'no-such-bucket' does not exist" in err
    assert "storage prefix 's3://no-such-bucket'" in err


def test_a_host_that_does_not_resolve_stops_the_run(site, tiny_model, tmp_path):
    urls = [f"http://nonexistent.invalid/videos/{v.name}" for v in site["videos"]]
    err = launch_over(site, tiny_model, tmp_path, "nohost", urls)
    assert "the host nonexistent.invalid does not resolve" in err
    assert "http://nonexistent.invalid (no storage prefix)" in err


def test_preflight_reports_the_bytes_to_fetch(site, tiny_model):
    cfg = launch_config(site, tiny_model, "preflight")
    proc = run_cli("video_pipeline.cli.preflight", "--config", str(cfg), "--json")
    report = json.loads(proc.stdout)
    sizes = {v.name: v.stat().st_size for v in site["videos"]}
    sizes |= {f"late-{i}.mp4": sizes[site["videos"][i].name] for i in (2, 3)}
    # http, s3, private and the late rows when the input has them; missing ones count nothing
    names = [
        Path(r["path"]).name
        for r in read_jsonl(site["root"] / "site" / "input.jsonl")
        if not r["path"].startswith("/") and "missing" not in r["path"] and "stall" not in r["path"]
    ]
    assert report["remote_videos"] == len(names) >= 2 * N + 1
    assert report["remote_bytes"] == sum(sizes[n] for n in names)
    assert report["errors_by_kind"] == {"video_not_found": 2, "fetch_error": 1}
