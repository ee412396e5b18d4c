"""Two tasks in one launch with the real engine: one decode per video, killed and resumed.

Runs with Qwen3-VL (whose timestamps come from the shared frames' metadata); the kill -9
and resume of a single task runs with Qwen2.5-VL in test_launch.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import (
    cli_env,
    demo_config,
    input_keys,
    read_jsonl,
    run_cli,
    vision_for,
    write_config,
)
from video_pipeline.fixtures.videos import make_video_set, write_input_jsonl
from video_pipeline.io.journal import journal_paths

pytestmark = pytest.mark.e2e

TASKS = [
    {"name": "describe", "sampling": {"temperature": 0.0}},
    {
        "name": "structured_caption",
        "sampling": {"max_tokens": 32},
        "task_params": {"fields": ["summary"]},
    },
]


def _journal_lines(outs) -> int:
    return sum(len(read_jsonl(p)) for out in outs for p in journal_paths(out))


def test_group_run_killed_then_resumed_gives_each_key_once_per_task(tmp_path, tiny_models):
    model = tiny_models("qwen3_vl")
    videos = make_video_set(tmp_path / "v", 12, seconds=2.0, fps=8)
    inp = write_input_jsonl(tmp_path / "in.jsonl", videos)
    keys = input_keys(inp)
    stem = tmp_path / "out" / "res.{task}.jsonl"
    vision = vision_for(model)
    raw = demo_config(
        model, inp, stem, vision=vision, sampling={"max_tokens": 48}, run={"max_in_flight": 2}
    )
    del raw["run"]["task"]
    raw["tasks"] = TASKS
    cfg = write_config(tmp_path / "group.yaml", raw)
    outs = [tmp_path / "out" / f"res.{t['name']}.jsonl" for t in TASKS]

    cmd = [sys.executable, "-m", "video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "1"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    launch = subprocess.Popen(cmd, env=cli_env(), **quiet)
    try:
        t0 = time.time()
        while _journal_lines(outs) < 3 and time.time() - t0 < 240:
            time.sleep(0.05)
    finally:
        os.kill(launch.pid, signal.SIGKILL)
        launch.wait()
    time.sleep(1.0)
    written = _journal_lines(outs)
    assert 3 <= written < 2 * len(keys), "the kill must land mid-run"

    proc = run_cli("video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "2", "--merge")
    assert "[describe] done=" in proc.stderr and "[structured_caption] done=" in proc.stderr
    for out in outs:
        journaled = [r["__key"] for p in journal_paths(out) for r in read_jsonl(p)]
        assert len(journaled) == len(set(journaled)) == len(keys)  # once each
        errors = out.with_name(out.name.replace(".jsonl", ".errors.jsonl"))
        merged = [r["__key"] for r in read_jsonl(out) + read_jsonl(errors)]
        assert sorted(merged) == sorted(keys)
    # Each rank decoded a video once for both tasks: the rerun's decodes are the union of
    # what each task still needed, never the sum.
    for r in (0, 1):
        stats = [
            json.loads((tmp_path / "out" / f"res.{t['name']}.rank{r}.stats.json").read_text())
            for t in TASKS
        ]
        todo = [s["todo"] for s in stats]
        assert stats[0]["decodes"] <= max(todo) + min(todo)
        assert all(s["decodes"] == s["todo"] for s in stats)
        assert stats[0]["shared_with"] == [str(outs[1])]

    # The group's describe answers are the prompts describe alone would send.
    alone_raw = demo_config(model, inp, tmp_path / "alone" / "res.jsonl", vision=vision)
    alone_raw["sampling"].update(max_tokens=4)
    alone = write_config(tmp_path / "alone.yaml", alone_raw)
    run_cli("video_pipeline.cli.launch", "--config", str(alone), "--nproc", "1", "--merge")

    def prompt_tokens(path):
        return {r["__key"]: r["tokens"]["prompt"] for r in read_jsonl(path)}

    assert prompt_tokens(outs[0]) == prompt_tokens(tmp_path / "alone" / "res.jsonl")
