"""The workflow with its input in S3 (moto's server on loopback): the input is copied
when the DAG is parsed, its relative video paths resolve in the bucket, the infer jobs
fetch the videos with the config's per-prefix options, and the answers equal those of
the same videos read from disk in the same run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.storage.servers import S3Server
from tests.workflow.smk import read_records, run_snakemake, write_yaml
from video_pipeline.fixtures.videos import make_video_set

pytestmark = pytest.mark.e2e

N = 3


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, sm_env: dict) -> dict:
    d = tmp_path_factory.mktemp("workflow storage")
    videos = make_video_set(d / "bucket" / "videos", N, seconds=2.0, fps=4)
    rows = [{"id": f"s3-{i}", "path": f"videos/{v.name}"} for i, v in enumerate(videos)]
    rows += [{"id": f"disk-{i}", "path": str(v)} for i, v in enumerate(videos)]
    rows.append({"id": "gone", "path": "videos/gone.mp4"})
    (d / "bucket" / "input.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with S3Server() as s3:
        s3.upload("demo", d / "bucket")
        overlay = write_yaml(
            d / "overlay.yaml",
            {
                "input": "s3://demo/input.jsonl",
                "outdir": "out",
                "tasks": [{"name": "describe", "task_params": {"prompt": "Describe this video."}}],
                "report": False,
                "num_shards": 1,
                "data": {"id_field": "id"},
                "vllm": {"model": str(tiny_model)},
                "sampling": {"max_tokens": 8, "temperature": 0},
                "storage": {"s3://demo": s3.storage_options(), "cache_dir": str(d / "cache")},
            },
        )
        proc = run_snakemake(d, [overlay], "--cores", "2", env=sm_env)
    return {"dir": d, "out": d / "out", "proc": proc, "rows": rows}


def test_answers_from_the_bucket_equal_those_from_disk(run):
    ok = {r["__key"]: r for r in read_records(run["out"] / "results" / "describe.jsonl")}
    assert sorted(ok) == sorted(f"{src}-{i}" for src in ("s3", "disk") for i in range(N))
    for i in range(N):
        assert ok[f"s3-{i}"]["text"] == ok[f"disk-{i}"]["text"]
        assert ok[f"s3-{i}"]["raw"]["path"] == f"videos/video_{i:03d}.mp4"  # as written


def test_a_missing_object_is_one_error_record(run):
    errors = read_records(run["out"] / "results" / "describe.errors.jsonl")
    assert [(e["__key"], e["error"]["kind"]) for e in errors] == [("gone", "video_not_found")]


def test_the_input_was_copied_and_the_cache_emptied(run):
    copies = list((run["out"] / "inputs").glob("*-input.jsonl"))
    assert len(copies) == 1
    assert copies[0].read_text() == (run["dir"] / "bucket" / "input.jsonl").read_text()
    assert [p for p in (run["dir"] / "cache").rglob("*") if p.is_file()] == []
