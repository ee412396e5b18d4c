"""End to end with the real engine: launch (torchrun, CPU ranks) then merge.

The essential runs (two ranks then merge, structured captions) go through Qwen2.5-VL
and Qwen3-VL; the rest through Qwen2.5-VL only. A kill -9 and resume runs for each
family once in the suite: Qwen2.5-VL here, Qwen3-VL in the two-task run
(test_shared_decode_e2e.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from tests.helpers import (
    REPO,
    cli_env,
    demo_config,
    input_keys,
    processor_counts,
    read_jsonl,
    run_cli,
    vision_for,
    write_config,
)
from video_pipeline.config import load_config
from video_pipeline.fixtures.videos import make_video_set, write_input_jsonl
from video_pipeline.io.journal import journal_paths
from video_pipeline.models import resolve_profile
from video_pipeline.tasks.registry import get_task_class

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["qwen2_5_vl", "qwen3_vl"])
def model(request, tiny_models) -> Path:
    """The tiny checkpoint of each family the essential runs go through."""
    return tiny_models(request.param)


def merged_keys(out: Path) -> list[str]:
    errors = out.with_name(out.name.replace(".jsonl", ".errors.jsonl"))
    return [r["__key"] for r in read_jsonl(out) + read_jsonl(errors)]


SEED = REPO / "configs" / "describe.yaml"


def test_two_ranks_then_merge_gives_each_key_once(tmp_path, model, input_jsonl):
    """The seed's config as a user runs it: its paths and the model folder set, and what
    the tiny model needs (its 4096 positions, no image budget, short answers)."""
    out = tmp_path / "out" / "res.describe.jsonl"
    overrides = [
        f"data.input_jsonl={input_jsonl}",
        f"data.output_jsonl={out}",
        f"vllm.model={model}",
        "vllm.max_model_len=4096",
        "vllm.limit_mm_per_prompt.image=0",
        "sampling.max_tokens=8",
    ]
    sets = [a for o in overrides for a in ("--set", o)]
    proc = run_cli("video_pipeline.cli.launch", "--config", str(SEED), *sets, "--nproc", "2")
    assert "done=8 failed=0" in proc.stderr  # the end-of-run summary
    if resolve_profile(str(model)).pixel_factor == 32:  # the seed's budgets: 28*28 units
        assert "vision.min_pixels=12544 is 12.25 x 32*32" in proc.stderr
    names = sorted(p.name for p in journal_paths(out))
    assert names == ["res.describe.rank0.jsonl", "res.describe.rank1.jsonl"]
    for r in (0, 1):
        stats = json.loads((out.parent / f"res.describe.rank{r}.stats.json").read_text())
        assert stats["done"] == 4 and stats["videos_per_s"] > 0
        assert stats["generated_tokens"] > 0
        # 8-token answers take 8 steps at least; the rank's 4 videos at most in flight
        assert stats["steps"] >= 8 and 0 < stats["mean_in_flight"] <= 4
    # The seed's merge: cat the rank files.
    cat = subprocess.run(
        f"cat {out.parent}/res.describe.rank*.jsonl",
        shell=True,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert sorted(json.loads(x)["__key"] for x in cat) == sorted(input_keys(input_jsonl))
    merge = run_cli("video_pipeline.cli.merge", "--config", str(SEED), *sets)
    assert "ok=8 failed=0 pending=0" in merge.stderr
    assert merged_keys(out) == input_keys(input_jsonl)  # once each, in input order
    rec = read_jsonl(out)[0]
    assert rec["status"] == "ok" and rec["result"]["description"] == rec["text"].strip()
    assert rec["tokens"]["prompt"] > 0 and rec["raw"]["meta"]["index"] == 0
    counts = processor_counts(load_config(SEED, overrides))  # vLLM's count, the HF one
    assert {r["__key"]: r["tokens"]["prompt"] for r in read_jsonl(out)} == {
        k: hf for k, (hf, _ours) in counts.items()
    }
    assert all(hf == ours for hf, ours in counts.values())  # and the pipeline's


def _wait_for_lines(paths_of, at_least: int, timeout: float) -> int:
    t0 = time.time()
    while time.time() - t0 < timeout:
        n = sum(len(read_jsonl(p)) for p in paths_of())
        if n >= at_least:
            return n
        time.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} journal lines after {timeout}s")


def test_kill_9_then_rerun_with_fewer_ranks(tmp_path, tiny_model):
    model = tiny_model
    videos = make_video_set(tmp_path / "v", 16, seconds=2.0, fps=8)
    inp = write_input_jsonl(tmp_path / "in.jsonl", videos)
    out = tmp_path / "out" / "res.jsonl"
    raw = demo_config(
        model,
        inp,
        out,
        vision=vision_for(model),
        sampling={"max_tokens": 48},
        run={"max_in_flight": 2, "fsync_every": 1},
    )
    cfg = write_config(tmp_path / "c.yaml", raw)
    cmd = [sys.executable, "-m", "video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "2"]
    launch = subprocess.Popen(
        cmd, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        before = _wait_for_lines(lambda: journal_paths(out), 2, timeout=240)
    finally:
        os.kill(launch.pid, signal.SIGKILL)  # launch only: its ranks must die with it
        launch.wait()
    time.sleep(1.0)
    written = sum(len(read_jsonl(p)) for p in journal_paths(out))
    time.sleep(2.0)
    assert sum(len(read_jsonl(p)) for p in journal_paths(out)) == written, "ranks outlived launch"
    assert before <= written < 16, "the kill must land mid-run"
    proc = run_cli("video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "1", "--merge")
    assert f"skipped={written}" in proc.stderr
    keys = [r["__key"] for p in journal_paths(out) for r in read_jsonl(p)]
    assert len(keys) == len(set(keys)) == 16  # nothing lost, nothing repeated
    assert merged_keys(out) == input_keys(inp)


def test_structured_caption_with_guided_decoding(tmp_path, tiny_models, input_jsonl):
    """Guided decoding works on tokens, the same for every family: Qwen3-VL runs it."""
    model = tiny_models("qwen3_vl")
    out = tmp_path / "out" / "res.sc.jsonl"
    params = {"fields": ["summary", "objects", "scene"], "max_chars": 12, "max_items": 2}
    raw = demo_config(
        model,
        input_jsonl,
        out,
        vision=vision_for(model),
        task="structured_caption",
        sampling={"max_tokens": 200, "temperature": 0.7, "seed": 1},
        task_params=params,
    )
    cfg = write_config(tmp_path / "c.yaml", raw)
    run_cli("video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "1", "--merge")
    ok = read_jsonl(out)
    errors = read_jsonl(out.with_name("res.sc.errors.jsonl"))
    assert len(ok) + len(errors) == 8
    assert ok, "guided decoding should give some valid answers even with a random model"
    schema = get_task_class("structured_caption")(**params).json_schema()
    for rec in ok:
        jsonschema.validate(rec["result"], schema)
        assert json.loads(rec["text"], strict=False) == rec["result"]
    for rec in errors:  # an invalid answer is kept as text beside its reason
        assert rec["error"]["kind"] == "parse_error" and rec["text"]


def test_retry_errors_flag_reruns_failed_samples_once(tmp_path, tiny_model, input_jsonl):
    """A video missing on the first run is there on the second: `--retry-errors` runs it
    again, and the merge keeps its result, not the old error."""
    rows = input_jsonl.read_text().splitlines()
    late = tmp_path / "late.mp4"
    rows.append(json.dumps({"path": str(late)}))
    input_jsonl.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out" / "res.jsonl"
    cfg = write_config(tmp_path / "c.yaml", demo_config(tiny_model, input_jsonl, out))
    first = run_cli("video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "1", "--merge")
    assert "done=8 failed=1" in first.stderr
    assert [r["error"]["kind"] for r in read_jsonl(out.with_suffix(".errors.jsonl"))] == [
        "video_not_found"
    ]
    first_video = json.loads(rows[0])["path"]
    late.write_bytes(Path(first_video).read_bytes())
    plain = run_cli("video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "1")
    assert "skipped=9" in plain.stderr  # an error is a finished sample unless retried
    args = ("--config", str(cfg), "--nproc", "1", "--retry-errors", "--merge")
    retried = run_cli("video_pipeline.cli.launch", *args)
    assert "done=1 failed=0 skipped=8" in retried.stderr
    assert read_jsonl(out.with_suffix(".errors.jsonl")) == []
    assert merged_keys(out) == input_keys(input_jsonl)  # the retried key once, as a result
    assert read_jsonl(out)[-1]["__key"] == str(late)
