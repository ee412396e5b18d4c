"""Transcripts into prompts in the workflow: configs/transcribe.yaml over the demo, on
videos with a tone and one without sound; rule demo_whisper builds the tiny Whisper.

One real run (one shard: the Whisper and the VLM each start once) is checked by the
tests; the transcription stage's own behaviour is tested in
tests/e2e/test_transcribe_e2e.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import REPO
from tests.workflow.smk import jobs_run, read_records, run_snakemake, write_yaml
from video_pipeline.fixtures.videos import make_video, write_input_jsonl

pytestmark = pytest.mark.e2e

CONFIG = REPO / "configs" / "transcribe.yaml"


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model: Path, sm_env: dict) -> dict:
    workdir = tmp_path_factory.mktemp("wf-transcribe")
    kw = {"fps": 8, "width": 64, "height": 48}
    videos = [
        make_video(workdir / f"tone{i}.mp4", seconds=2.0, tone_hz=440, **kw) for i in range(3)
    ]
    videos.append(make_video(workdir / "silent.mp4", seconds=2.0, **kw))
    rows = write_input_jsonl(workdir / "input.jsonl", videos)
    overlay = {
        "input": str(rows),
        "outdir": "out",
        "num_shards": 1,
        "vllm": {"model": str(tiny_model)},
        "run": {"fsync_every": 1},
    }
    files = [CONFIG, write_yaml(workdir / "overlay.yaml", overlay)]
    proc = run_snakemake(workdir, files, "--cores", "2", env=sm_env)
    out = workdir / "out" / "results"

    def merged(task: str) -> dict[str, dict]:
        recs = read_records(out / f"{task}.jsonl") + read_records(out / f"{task}.errors.jsonl")
        return {r["raw"]["meta"]["id"]: r for r in recs}

    return {
        "dir": workdir,
        "proc": proc,
        "transcribe": merged("transcribe"),
        "heard": merged("describe_heard"),
    }


def test_the_rule_builds_the_whisper_and_each_stage_runs_once(run):
    jobs = jobs_run(run["proc"])
    assert jobs.count("demo_whisper") == 1
    assert (run["dir"] / "demo" / "tiny-whisper" / "config.json").exists()
    infer = [j for j in jobs if j.startswith("infer")]
    assert len(infer) == 2, jobs  # one shard of each task


def test_transcripts_feed_the_describe_prompt(run):
    spoken, heard = run["transcribe"], run["heard"]
    assert sorted(spoken) == sorted(heard) == ["silent", "tone0", "tone1", "tone2"]
    for name, rec in spoken.items():
        assert rec["status"] == "ok", rec
        assert rec["text"] == rec["result"]["text"]
        assert bool(rec["text"]) == (name != "silent")  # the silent video: empty, not an error
    for name, rec in heard.items():
        assert rec["status"] == "ok", rec
        assert rec["upstream"]["transcribe"]["text"] == spoken[name]["text"]
