"""Stages with the real engines in one `launch`: describe and structured_caption, a second
VLM pass over describe's draft, and a rewrite on a tiny text LLM, every task over the
videos' clips; killed with -9 in the second stage, then resumed with vLLM's engine core
in a process of its own (as on GPUs), so the swap from the VLM to the text model shuts
down one engine process and starts another in the same rank.

One chain of runs (module-scoped) is checked by several tests: exactly once per task,
each clip's records' `upstream` equal to its clip's upstream records, `missing_field` and
`upstream_error` where they belong, one engine per model and rank, preflight and status.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.helpers import demo_config, read_jsonl, run_cli, write_config
from tests.robustness import procs
from video_pipeline.clips.run import run_configs
from video_pipeline.config import load_config
from video_pipeline.fixtures.tiny_text_model import build_tiny_text_model
from video_pipeline.fixtures.videos import make_video_set, write_input_jsonl
from video_pipeline.io.journal import journal_paths
from video_pipeline.verify import verify_run

pytestmark = pytest.mark.e2e

VIDEOS = 4
N = 2 * VIDEOS  # two 1 s clips of each 2 s video: the samples of every task
CLIPS = {"mode": "fixed", "seconds": 1, "min_seconds": 0.5}
NAMES = ("describe", "structured_caption", "describe_v2", "t2v_caption")
UNTITLED = 2  # the row without meta.title
SLOW = {"VP_FAULT_STEP_SLEEP": "0.05"}  # engine steps slow enough to stop mid-stage
ENGINE_PROCESS = procs.ENGINE_PROCESS  # the resumed run: vLLM's engine core as on GPUs


def _tasks(text_model) -> list[dict]:
    return [
        {"name": "describe"},
        {
            "name": "structured_caption",
            "sampling": {"max_tokens": 48},
            "task_params": {"fields": ["shot_type"], "max_chars": 8},
        },
        {
            "name": "describe_v2",
            "task": "describe",
            "after": ["describe"],
            "task_params": {
                "prompt": "A draft caption: {describe.text}\nWatch the video and correct the draft."
            },
        },
        {
            "name": "t2v_caption",
            "task": "rewrite",
            "after": ["describe", "structured_caption"],
            "task_params": {
                "prompt": "Title: {raw.meta.title}\nCaption: {describe.text}\n"
                "Shot: {structured_caption.result.shot_type}\n"
                "Write one caption for a text-to-video model."
            },
            "vllm": {"model": str(text_model)},
            "sampling": {"max_tokens": 12},
        },
    ]


@pytest.fixture(scope="module")
def run(tiny_model, tmp_path_factory):
    d = tmp_path_factory.mktemp("stages")
    text_model = build_tiny_text_model(d / "tiny-text")
    videos = make_video_set(d / "videos", VIDEOS, seconds=2.0, fps=8, width=64, height=48)

    def meta(i, _video):
        return {} if i == UNTITLED else {"title": f"Clip number {i}"}

    inp = write_input_jsonl(d / "input.jsonl", videos, meta=meta)
    raw = demo_config(
        tiny_model, inp, d / "out" / "o.{task}.jsonl", run={"plugins": [procs.FAULTS]}
    )
    del raw["run"]["task"]
    raw["run"]["max_in_flight"] = 1
    raw["tasks"] = _tasks(text_model)
    raw["clips"] = CLIPS
    cfg = write_config(d / "stages.yaml", raw)
    outs = {n: d / "out" / f"o.{n}.jsonl" for n in NAMES}
    log = d / "launch.log"

    first = procs.start("video_pipeline.cli.launch", "--config", str(cfg), log=log, **SLOW)
    t0 = time.monotonic()
    while procs.journal_lines(outs["describe_v2"]) < 2 and first.poll() is None:
        assert time.monotonic() - t0 < 300, log.read_text()[-3000:]
        time.sleep(0.02)
    procs.kill9(first)
    killed = {n: procs.journal_lines(o) for n, o in outs.items()}

    log.write_text("")
    second = procs.start(
        "video_pipeline.cli.launch", "--config", str(cfg), "--merge", log=log, **ENGINE_PROCESS
    )
    rc, text = procs.finish(second, log)
    assert rc == 0, text[-4000:]
    return {"dir": d, "cfg": cfg, "outs": outs, "killed": killed, "log": text, "input": inp}


def _journaled(out) -> list[dict]:
    return [r for p in journal_paths(out) for r in read_jsonl(p)]


def _merged(out) -> dict[str, dict]:
    errors = out.with_name(out.name.replace(".jsonl", ".errors.jsonl"))
    return {r["__key"]: r for r in read_jsonl(out) + read_jsonl(errors)}


def test_the_kill_landed_in_the_second_stage_and_each_key_is_written_once(run):
    killed = run["killed"]
    assert killed["describe"] == killed["structured_caption"] == N
    assert 2 <= killed["describe_v2"] < N and killed["t2v_caption"] == 0
    for name, out in run["outs"].items():
        keys = [r["__key"] for r in _journaled(out)]
        assert len(keys) == len(set(keys)) == N, name  # exactly once across the kill
        assert len(_merged(out)) == N
    for one in run_configs(load_config(run["cfg"])):
        report = verify_run(one, require_complete=True)
        assert not report.violations, report.summary()


def test_records_carry_the_upstream_records_they_were_given(run):
    outs = run["outs"]
    describe, captions = _merged(outs["describe"]), _merged(outs["structured_caption"])
    v2 = _merged(outs["describe_v2"])
    assert all(r["status"] == "ok" for r in describe.values())
    for key, rec in v2.items():
        up = describe[key]  # the same clip's record, not another clip's of the video
        assert "#t=" in key and (rec["video_key"], rec["clip"]) == (up["video_key"], up["clip"])
        assert rec["upstream"] == {"describe": {"text": up["text"], "result": up["result"]}}
        assert list(rec).index("upstream") == list(rec).index("result") + 1
    assert len({r["video_key"] for r in v2.values()}) == VIDEOS
    t2v = _merged(outs["t2v_caption"])
    oks = [r for r in t2v.values() if r["status"] == "ok"]
    assert oks, "some structured captions parse, so some rewrites run"
    for rec in oks:
        key = rec["__key"]
        assert rec["task"] == "rewrite" and rec["result"] == {"caption": rec["text"].strip()}
        assert rec["upstream"] == {
            "describe": {"text": describe[key]["text"], "result": describe[key]["result"]},
            "structured_caption": {
                "text": captions[key]["text"],
                "result": captions[key]["result"],
            },
        }


def test_missing_fields_and_upstream_errors_become_error_records(run):
    rows = [json.loads(line) for line in run["input"].read_text().splitlines()]
    untitled = rows[UNTITLED]["path"]
    captions = _merged(run["outs"]["structured_caption"])
    for key, rec in _merged(run["outs"]["t2v_caption"]).items():
        kind = (rec.get("error") or {}).get("kind")
        if rec["video_key"] == untitled:
            assert kind == "missing_field" and "meta.title" in rec["error"]["message"]
        elif captions[key]["status"] != "ok":
            assert kind == "upstream_error"
            assert rec["error"]["message"].startswith("structured_caption failed: parse_error")
        else:
            assert rec["status"] == "ok"


def test_each_rank_loads_one_engine_per_model(run):
    loads = [line for line in run["log"].splitlines() if "engine for stage tasks: loading" in line]
    # the resumed run: the VLM (for describe_v2's rest), then the text model; the
    # finished first stage loads nothing
    assert len(loads) == 2 and "tiny-text" in loads[1], loads
    # each in an engine core process of its own: two of them, one after the other
    cores = set(re.findall(r"EngineCore\w* pid=(\d+)", run["log"]))
    assert len(cores) == 2, cores


def test_preflight_probes_the_video_stages_and_skips_the_text_one(run):
    proc = run_cli("video_pipeline.cli.preflight", "--config", str(run["cfg"]))
    assert "task rewrite is text only (a stage): nothing to probe" in proc.stdout
    assert proc.stdout.count("for task describe:") == 2  # describe and describe_v2
    # describe_v2's template filled from describe's records, as its run will be
    assert f"stage prompts: {N} filled from upstream records, 0 estimated" in proc.stdout


def test_preflight_estimates_a_stage_whose_upstream_has_not_answered(run, tiny_model):
    """Before describe has run, describe_v2's prompt holds describe's answer as long as
    describe's sampling.max_tokens: an upper estimate, larger than the filled prompt."""
    from video_pipeline.preflight import run_preflight
    from video_pipeline.stages.plan import with_records

    v2 = run_configs(load_config(run["cfg"]))[NAMES.index("describe_v2")]
    filled = run_preflight(v2, upstream_max_tokens={"describe": 64})
    nothing = with_records(v2, {"describe": str(run["dir"] / "none" / "o.jsonl")})
    guessed = run_preflight(nothing, upstream_max_tokens={"describe": 64})
    assert (filled.stage["filled"], guessed.stage["estimated"]) == (N, N)
    assert guessed.stage["estimate_tokens"] == {"describe": 64}
    assert f"0 filled from upstream records, {N} estimated" in guessed.summary()
    longest = max(len(r["text"]) for r in read_jsonl(run["outs"]["describe"]))
    assert guessed.prompt_tokens > filled.prompt_tokens, (longest, guessed.summary())
    assert guessed.ok == filled.ok == N


def test_status_shows_each_stage_after_its_upstream(run):
    proc = run_cli("video_pipeline.cli.status", "--config", str(run["cfg"]))
    lines = proc.stdout.splitlines()
    tasks = [line.split(" all ")[0].strip() for line in lines if " all " in line]
    assert tasks == [
        "describe",
        "structured_caption",
        "describe_v2 (after describe)",
        "t2v_caption (after describe, structured_caption)",
    ], proc.stdout
    assert proc.stdout.count(f" {N}/{N} ") == 4  # over the clips, every task finished
