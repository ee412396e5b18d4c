"""`transcribe` with the real engines in `launch`: the tiny Whisper on videos with a tone
(one long enough for several windows), one without sound and one whose audio packets
are garbage, feeding a `describe` prompt on the tiny Qwen2.5-VL through `after`; killed
with -9 while transcribing, then resumed.

One chain of runs (module-scoped) is checked by several tests.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import av
import numpy as np
import pytest

from tests.helpers import demo_config, read_jsonl, write_config
from tests.robustness import procs
from video_pipeline.config import load_config
from video_pipeline.config.loader import task_configs
from video_pipeline.fixtures.videos import make_video, write_input_jsonl
from video_pipeline.io.journal import journal_paths
from video_pipeline.verify import verify_run

pytestmark = pytest.mark.e2e

WINDOW_S = 2.0
TONED = {"t0": 5.0, "t1": 2.0, "t2": 3.0, "t3": 2.0, "t4": 4.0}  # key -> seconds
SILENT, CORRUPT = "silent", "corrupt"
NAMES = ("transcribe", "describe_heard")
SLOW = {"VP_FAULT_STEP_SLEEP": "0.1"}  # engine steps slow enough to stop mid-task


def corrupt_audio(path: Path, seed: int = 0) -> Path:
    """`path` with every audio packet's bytes replaced by noise: the header and the
    video stay readable, the audio decoder refuses the packets."""
    with av.open(str(path)) as c:
        spots = [(p.pos, p.size) for p in c.demux(audio=0) if p.pos is not None and p.size]
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(seed)
    for at, n in spots:
        data[at : at + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def tasks(whisper: Path) -> list[dict]:
    return [
        {
            "name": "transcribe",
            "vllm": {"model": str(whisper)},
            "task_params": {"window_s": WINDOW_S},
        },
        {
            "name": "describe_heard",
            "task": "describe",
            "after": ["transcribe"],
            "task_params": {
                "prompt": "Speech ({transcribe.result.language}): {transcribe.text}\n"
                "Describe the video."
            },
        },
    ]


@pytest.fixture(scope="module")
def run(tiny_model, tiny_whisper, tmp_path_factory):
    d = tmp_path_factory.mktemp("transcribe")
    kw = {"fps": 8, "width": 64, "height": 48}
    videos = {k: make_video(d / f"{k}.mp4", seconds=s, tone_hz=440, **kw) for k, s in TONED.items()}
    videos[SILENT] = make_video(d / f"{SILENT}.mp4", seconds=2.0, **kw)
    toned = make_video(d / f"{CORRUPT}.mp4", seconds=2.0, tone_hz=440, **kw)
    videos[CORRUPT] = corrupt_audio(toned)
    inp = write_input_jsonl(d / "input.jsonl", list(videos.values()))
    raw = demo_config(
        tiny_model, inp, d / "out" / "o.{task}.jsonl", run={"plugins": [procs.FAULTS]}
    )
    del raw["run"]["task"]
    raw["run"]["max_in_flight"] = 1
    raw["tasks"] = tasks(tiny_whisper)
    cfg = write_config(d / "transcribe.yaml", raw)
    outs = {n: d / "out" / f"o.{n}.jsonl" for n in NAMES}
    log = d / "launch.log"

    t0 = time.monotonic()
    first = procs.start("video_pipeline.cli.launch", "--config", str(cfg), log=log, **SLOW)
    while procs.journal_lines(outs["transcribe"]) < 2 and first.poll() is None:
        assert time.monotonic() - t0 < 300, log.read_text()[-3000:]
        time.sleep(0.02)
    procs.kill9(first)
    killed = {n: procs.journal_lines(o) for n, o in outs.items()}

    log.write_text("")
    t1 = time.monotonic()
    second = procs.start("video_pipeline.cli.launch", "--config", str(cfg), "--merge", log=log)
    rc, text = procs.finish(second, log)
    assert rc == 0, text[-4000:]
    return {
        "dir": d,
        "cfg": cfg,
        "outs": outs,
        "killed": killed,
        "log": text,
        "stems": list(videos),
        "seconds": {"killed_run": t1 - t0, "resumed_run": time.monotonic() - t1},
    }


def _journaled(out: Path) -> list[dict]:
    return [r for p in journal_paths(out) for r in read_jsonl(p)]


def _by_stem(run, name: str) -> dict[str, dict]:
    """The task's records by their video's name (the row's meta.id)."""
    return {r["raw"]["meta"]["id"]: r for r in _journaled(run["outs"][name])}


def test_killed_while_transcribing_then_each_key_is_written_once(run):
    n = len(run["stems"])
    assert 2 <= run["killed"]["transcribe"] < n, run["killed"]
    assert run["killed"]["describe_heard"] == 0
    for name, out in run["outs"].items():
        keys = [r["__key"] for r in _journaled(out)]
        assert len(keys) == len(set(keys)) == n, name  # exactly once across the kill
    for one in task_configs(load_config(run["cfg"])):
        report = verify_run(one, require_complete=True)
        assert not report.violations, report.summary()


def test_a_transcript_gathers_its_windows_with_times_in_the_file(run):
    recs = _by_stem(run, "transcribe")
    for stem, seconds in TONED.items():
        rec = recs[stem]
        assert rec["status"] == "ok", rec
        result = rec["result"]
        assert result["language"] == "en"  # the tiny model names none: the default
        assert rec["text"] == result["text"] == " ".join(s["text"] for s in result["segments"])
        windows = math.ceil(seconds / WINDOW_S)
        # one request per window, each with the decoder prompt `<|startoftranscript|>`
        # (no language given: the model names it), gathered in one record
        assert rec["tokens"]["prompt"] == windows, (stem, rec["tokens"])
        # The tiny model writes text without timestamps: one segment per window, with
        # the window's times in the file (the last one shorter).
        bounds = [[k * WINDOW_S, min((k + 1) * WINDOW_S, seconds)] for k in range(windows)]
        got = [[s["start"], s["end"]] for s in result["segments"]]
        assert np.allclose(got, bounds, atol=0.05), (stem, got)
        assert all(s["text"] for s in result["segments"])


def test_no_sound_is_an_empty_transcript_and_bad_audio_an_error(run):
    recs = _by_stem(run, "transcribe")
    silent = recs[SILENT]
    assert silent["status"] == "ok", silent
    assert silent["text"] == "" and silent["result"]["segments"] == []
    bad = recs[CORRUPT]
    assert bad["status"] == "error" and bad["error"]["kind"] == "audio_decode_error", bad


def test_the_transcript_feeds_the_describe_prompt(run):
    spoken = _by_stem(run, "transcribe")
    heard = _by_stem(run, "describe_heard")
    for stem, rec in heard.items():
        if stem == CORRUPT:
            assert rec["status"] == "error" and rec["error"]["kind"] == "upstream_error"
            continue
        assert rec["status"] == "ok", rec
        assert rec["upstream"]["transcribe"]["text"] == spoken[stem]["text"]
        assert rec["upstream"]["transcribe"]["result"] == spoken[stem]["result"]
    # the transcript is in the prompt: the longest speech makes the longest prompt
    assert heard["t0"]["tokens"]["prompt"] > heard["t1"]["tokens"]["prompt"]
    assert heard["t1"]["tokens"]["prompt"] > heard[SILENT]["tokens"]["prompt"]
