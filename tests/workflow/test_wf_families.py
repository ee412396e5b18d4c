"""The demo's DAG (Snakemake: shard, infer, merge, summary) with each non-Qwen family,
and with Qwen2.5-Omni hearing the videos' audio (`vision.use_audio_in_video`) and
transcribing them on the same decode (`share_decode`).

One small workflow run per family; each checks every key exactly once and the prompt
tokens vLLM counted against the HF processor's count of the same decoded video (the
launch runs of tests/models/test_families_e2e.py vary the videos more). GLM-4.1V's run
over three videos is first killed with -9 mid-infer (Snakemake's main process alone, as
a lost login would) and then resumed: nothing lost, nothing twice.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import demo_config, processor_counts, vision_for
from tests.robustness import procs
from tests.workflow.smk import read_records, run_snakemake, snakemake_cmd, write_yaml
from video_pipeline.config import load_config
from video_pipeline.fixtures.videos import make_video, write_input_jsonl

pytestmark = pytest.mark.e2e

FAMILIES = ["glm4v", "llava_onevision", "internvl", "qwen2_5_omni"]
KILLED = "glm4v"  # killed mid-infer, then resumed
HEARS = "qwen2_5_omni"  # over a video with a tone and one without audio
VIDEOS = [(2.0, 8, 64, 48), (12.0, 10, 96, 64), (3.0, 24, 48, 80)]  # s, fps, w, h
RUN_ARGS = ("--cores", "2")


PROMPT = {"prompt": "Describe this video."}
WORKDIRS: dict[str, Path] = {}  # each family's run folder, for tests reading its files


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("family_videos")
    return [
        make_video(d / f"v{i}.mp4", seconds=s, fps=fps, width=w, height=h, seed=i)
        for i, (s, fps, w, h) in enumerate(VIDEOS)
    ]


@pytest.fixture(scope="module")
def heard_videos(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("heard_videos")
    return [
        make_video(d / "tone.mp4", seconds=3.0, fps=10, width=96, height=64, seed=5, tone_hz=440),
        make_video(d / "silent.mp4", seconds=2.0, fps=8, width=64, height=48, seed=6),
    ]


def _journal(workdir: Path) -> Path:
    return workdir / "out" / "work" / "describe" / "00000" / "describe.rank0.jsonl"


def _kill_mid_infer(workdir: Path, overlay: Path, env: dict) -> int:
    """SIGKILL Snakemake's main process once the infer job has written part of its
    journal; returns the journal's complete lines at the kill."""
    cmd = snakemake_cmd(workdir, [overlay], *RUN_ARGS)
    log = workdir / "killed.log"
    slow = {**env, "VP_FAULT_STEP_SLEEP": "0.1"}  # engine steps of 0.1 s: a window
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=workdir, env=slow, stdout=f, stderr=f)
    journal = _journal(workdir)
    lines = lambda: journal.read_bytes().count(b"\n") if journal.exists() else 0  # noqa: E731
    procs.wait_for(lambda: lines() >= 1, proc, log, timeout=600)
    procs.kill9(proc)  # its jobs (infer, launch, the rank) die with it
    time.sleep(0.2)
    return lines()


@pytest.fixture(scope="module", params=FAMILIES)
def workflow(request, tiny_models, videos, heard_videos, tmp_path_factory, sm_env):
    family = request.param
    model = tiny_models(family)
    workdir = tmp_path_factory.mktemp(f"wf_{family}")
    slow = family == KILLED  # one answer at a time, slow steps: a window to kill in
    chosen = videos if slow else heard_videos if family == HEARS else videos[1:2]
    rows = write_input_jsonl(workdir / "in.jsonl", chosen)
    vision = {**vision_for(model, total_units=48, min_units=2), "fps": 2}
    if family == HEARS:
        vision["use_audio_in_video"] = True
    tasks = [{"name": "describe", "task_params": PROMPT}]
    if family == HEARS:  # one infer job, one decode of each video for both tasks
        tasks.append({"name": "transcribe"})
    overlay = {
        "input": str(rows),
        "outdir": "out",
        "tasks": tasks,
        "share_decode": family == HEARS,
        "num_shards": 1,
        "report": False,
        "vision": vision,
        "vllm": {"model": str(model)},
        "sampling": {"max_tokens": 16 if slow else 4},
        "run": {
            "max_in_flight": 1 if slow else 4,
            "fsync_every": 1,
            "plugins": [procs.FAULTS] if slow else [],  # VP_FAULT_STEP_SLEEP
        },
    }
    config = write_yaml(workdir / "overlay.yaml", overlay)
    killed_at = None
    if slow:
        killed_at = _kill_mid_infer(workdir, config, sm_env)
        run_snakemake(workdir, [config], "--unlock", env=sm_env)
    t0 = time.monotonic()
    run_snakemake(workdir, [config], *RUN_ARGS, env=sm_env)
    seconds = time.monotonic() - t0
    records = read_records(workdir / "out" / "results" / "describe.jsonl")
    errors = read_records(workdir / "out" / "results" / "describe.errors.jsonl")
    # the same decode, as a launch run of these settings makes it
    raw = demo_config(model, rows, workdir / "unused.jsonl", vision=vision, task_params=PROMPT)
    counts = processor_counts(load_config(data=raw))
    print(f"{family}: workflow {seconds:.1f} s")
    WORKDIRS[family] = workdir
    return family, records, errors, counts, killed_at


def test_the_omni_run_heard_the_video_with_audio_alone(workflow):
    family, records, _errors, _counts, _ = workflow
    if family != HEARS:
        pytest.skip(f"{HEARS} hears")
    audio = {Path(r["__key"]).name: r["audio"] for r in records}
    assert audio["tone.mp4"]["present"] and audio["tone.mp4"]["tokens"] > 2
    assert audio["silent.mp4"] == {"present": False, "seconds": 0.0, "tokens": 0}


def test_the_omni_run_transcribed_on_the_same_decode(workflow):
    family, records, _errors, _counts, _ = workflow
    if family != HEARS:
        pytest.skip(f"{HEARS} transcribes")
    out = WORKDIRS[family] / "out"
    transcripts = read_records(out / "results" / "transcribe.jsonl")
    assert sorted(r["__key"] for r in transcripts) == sorted(r["__key"] for r in records)
    said = {Path(r["__key"]).name: r["result"] for r in transcripts}
    assert said["silent.mp4"] == {"language": "en", "segments": [], "text": ""}
    assert said["tone.mp4"]["segments"][0]["start"] == 0.0
    # the frames and the soundtrack of the tone, the frames of the silent video: once
    for task in ("describe", "transcribe"):
        stats = out / "work" / task / "00000" / f"{task}.rank0.stats.json"
        assert json.loads(stats.read_text())["decodes"] == 3, task


def test_every_key_once_with_the_processors_token_count(workflow):
    family, records, errors, counts, _ = workflow
    assert errors == []
    keys = [r["__key"] for r in records]
    assert sorted(keys) == sorted(counts) and len(set(keys)) == len(keys), family
    for r in records:
        hf, ours = counts[r["__key"]]
        assert r["tokens"]["prompt"] == hf == ours, (family, r["__key"])


def test_a_killed_run_resumes_without_loss_or_repeat(workflow):
    family, records, _errors, counts, killed_at = workflow
    if family != KILLED:
        pytest.skip(f"the kill runs with {KILLED}")
    assert 1 <= killed_at < len(counts)  # killed with part of the work done
    assert len(records) == len(counts) == len({r["__key"] for r in records})
