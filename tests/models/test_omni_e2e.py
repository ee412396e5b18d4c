"""The Omni families end to end with the real engine: the same videos seen, then heard.

`launch` runs over videos with a tone, a clip of one, and a video without an audio
track: a tiny Qwen2.5-Omni with `vision.use_audio_in_video` off and on, and a tiny
Qwen3-Omni-MoE with it on. Every record's prompt tokens (vLLM's) equal the HF
processor's and the pipeline's count; with audio they grow by exactly the tokens the
audio adds (the processor's `<|AUDIO|>` pads and the two markers), and the silent
video's count does not change. Then the Qwen3-Omni run resumes from a partial journal
without redoing its keys.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import (
    demo_config,
    processor_counts,
    read_jsonl,
    run_cli,
    vision_for,
    write_config,
)
from video_pipeline.config import load_config
from video_pipeline.fixtures.videos import make_video, write_input_jsonl
from video_pipeline.io.journal import journal_paths

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("omni_in")
    tone = make_video(d / "tone.mp4", seconds=3.0, fps=8, width=64, height=48, seed=1, tone_hz=440)
    long = make_video(d / "long.mp4", seconds=6.0, fps=8, width=80, height=48, seed=2, tone_hz=660)
    silent = make_video(d / "silent.mp4", seconds=2.0, fps=8, width=48, height=64, seed=3)
    rows = write_input_jsonl(d / "in.jsonl", [tone, long, silent])
    clip = write_input_jsonl(
        d / "clip.jsonl", [long], extra_fields={"video_start": 1.0, "video_end": 4.0}
    )
    rows.write_text(rows.read_text() + clip.read_text())
    return rows


def _launch(model: Path, rows: Path, d: Path, hear: bool) -> tuple[dict, Path]:
    out = d / "out" / "res.jsonl"
    raw = demo_config(
        model,
        rows,
        out,
        vision={**vision_for(model, total_units=32, min_units=2), "fps": 2},
        sampling={"max_tokens": 4},
    )
    raw["vision"]["use_audio_in_video"] = hear
    raw["vllm"]["limit_mm_per_prompt"] = {"video": 1, "image": 0, "audio": 1 if hear else 0}
    cfg = write_config(d / "c.yaml", raw)
    run_cli("video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "1", "--merge")
    return raw, out


@pytest.fixture(scope="module")
def runs(tiny_models, collection, tmp_path_factory):
    model = tiny_models("qwen2_5_omni")
    seen = _launch(model, collection, tmp_path_factory.mktemp("seen"), hear=False)
    heard = _launch(model, collection, tmp_path_factory.mktemp("heard"), hear=True)
    qwen3 = tiny_models("qwen3_omni_moe")
    return seen, heard, _launch(qwen3, collection, tmp_path_factory.mktemp("q3"), hear=True)


def _by_key(out: Path) -> dict[str, dict]:
    records = read_jsonl(out)
    assert len({r["__key"] for r in records}) == len(records) == 4  # each input exactly once
    assert {r["status"] for r in records} == {"ok"}
    return {r["__key"]: r for r in records}


def test_vllm_hf_and_the_pipeline_count_alike(runs):
    for raw, out in runs:
        counts = processor_counts(load_config(data=raw))
        for key, r in _by_key(out).items():
            hf, ours = counts[key]
            assert r["tokens"]["prompt"] == hf == ours, key


def test_audio_adds_exactly_its_tokens_and_silence_adds_none(runs):
    (_, seen_out), (_, heard_out), _qwen3 = runs
    seen, heard = _by_key(seen_out), _by_key(heard_out)
    assert all("audio" not in r for r in seen.values())  # a task that does not hear
    for key, r in heard.items():
        audio = r["audio"]
        assert list(r)[-1] == "audio"  # after the fields records had before
        added = r["tokens"]["prompt"] - seen[key]["tokens"]["prompt"]
        assert added == audio["tokens"], key
        if key.endswith("silent.mp4"):
            assert audio == {"present": False, "seconds": 0.0, "tokens": 0}
        else:
            assert audio["present"] and audio["tokens"] > 2 and audio["seconds"] > 2.9
    clip = next(r for k, r in heard.items() if r.get("raw", {}).get("video_start") == 1.0)
    assert abs(clip["audio"]["seconds"] - 3.0) < 0.05  # the clip's range alone


def test_qwen3_omni_hears_the_videos_with_audio(runs):
    _seen, (_, heard_out), (_, qwen3_out) = runs
    heard, qwen3 = _by_key(heard_out), _by_key(qwen3_out)
    for key, r in qwen3.items():
        assert r["audio"]["present"] == heard[key]["audio"]["present"], key
        assert r["audio"]["seconds"] == heard[key]["audio"]["seconds"], key


def test_a_resumed_hearing_run_redoes_no_key(runs):
    raw, out = runs[2]
    journal = journal_paths(out)[0]
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:2]))  # a run that stopped after two samples
    out.unlink()
    cfg = write_config(out.parent.parent / "c.yaml", raw)
    run_cli("video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "1", "--merge")
    kept = {r["__key"]: r["time"] for r in read_jsonl(journal)[:2]}
    merged = _by_key(out)
    assert {k: merged[k]["time"] for k in kept} == kept  # not answered again
    assert sum(len(read_jsonl(p)) for p in journal_paths(out)) == 4
