"""The Omni families end to end with the real engine: the same videos seen, heard and
transcribed, on one decode of each.

`launch` runs over videos with a tone, a clip of one, and a video without an audio
track. A tiny Qwen2.5-Omni runs four tasks: `seen` (frames alone), `heard`
(`use_audio_in_video` on), `transcribe` (the soundtrack alone, a chat prompt per
window) and `told` (a later stage whose prompt holds the transcript). The first three
share one decode of each video: the frames once, the soundtrack once. Every record's
prompt tokens (vLLM's) equal the HF processor's and the pipeline's count; with audio
they grow by exactly the tokens the audio adds, and the silent video's count does not
change. A tiny Qwen3-Omni-MoE hears the same videos, then resumes from a partial
journal without redoing its keys.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
from video_pipeline.config.loader import task_configs
from video_pipeline.fixtures.videos import make_video, write_input_jsonl
from video_pipeline.io.journal import journal_paths, stats_path

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


TASKS = [
    {"name": "seen", "task": "describe", "vision": {"use_audio_in_video": False}},
    {"name": "heard", "task": "describe", "vision": {"use_audio_in_video": True}},
    {"name": "transcribe", "task_params": {"window_s": 4.0}},
    {
        "name": "told",
        "task": "describe",
        "after": ["transcribe"],
        "task_params": {"prompt": "Speech: {transcribe.text}\nDescribe the video."},
    },
]


def _launch(model: Path, rows: Path, d: Path, tasks: list | None = None) -> tuple[dict, Path]:
    """One launch over the collection: Qwen3-Omni hearing alone, or the tasks."""
    out = d / "out" / ("{task}.jsonl" if tasks else "res.jsonl")
    raw = demo_config(
        model,
        rows,
        out,
        vision={**vision_for(model, total_units=32, min_units=2), "fps": 2},
        sampling={"max_tokens": 4},
    )
    raw["vision"]["use_audio_in_video"] = tasks is None
    raw["vllm"]["limit_mm_per_prompt"] = {"video": 1, "image": 0, "audio": 1}
    if tasks:
        del raw["run"]["task"]
        raw["tasks"] = tasks
    cfg = write_config(d / "c.yaml", raw)
    run_cli("video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "1", "--merge")
    return raw, out


@pytest.fixture(scope="module")
def runs(tiny_models, collection, tmp_path_factory) -> dict[str, tuple[Any, Path]]:
    """{task: (its single-task config, its merged output)} of the Qwen2.5-Omni run, and
    Qwen3-Omni's as `qwen3` (its raw config: the resume test runs it again)."""
    model = tiny_models("qwen2_5_omni")
    raw, _ = _launch(model, collection, tmp_path_factory.mktemp("omni"), TASKS)
    cfgs = task_configs(load_config(data=raw))
    runs: dict[str, tuple[Any, Path]] = {
        Path(c.data.output_jsonl).stem: (c, Path(c.data.output_jsonl)) for c in cfgs
    }
    runs["qwen3"] = _launch(
        tiny_models("qwen3_omni_moe"), collection, tmp_path_factory.mktemp("q3")
    )
    return runs


def _by_key(out: Path) -> dict[str, dict]:
    records = read_jsonl(out)
    assert len({r["__key"] for r in records}) == len(records) == 4  # each input exactly once
    assert {r["status"] for r in records} == {"ok"}
    return {r["__key"]: r for r in records}


def test_vllm_hf_and_the_pipeline_count_alike(runs):
    for name in ("seen", "heard", "qwen3"):
        cfg, out = runs[name]
        counts = processor_counts(cfg if name != "qwen3" else load_config(data=cfg))
        for key, r in _by_key(out).items():
            hf, ours = counts[key]
            assert r["tokens"]["prompt"] == hf == ours, (name, key)


def test_audio_adds_exactly_its_tokens_and_silence_adds_none(runs):
    seen, heard = _by_key(runs["seen"][1]), _by_key(runs["heard"][1])
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


def test_one_decode_served_seeing_hearing_and_transcribing(runs):
    """Frames once and the soundtrack once per video, whatever each task took of them:
    three sounding samples of two decodes and a silent one of one, in each task's stats
    (apart, the three tasks would have made 4 + 7 + 3 = 14 passes over the files)."""
    first = ("seen", "heard", "transcribe")
    for name in first:
        cfg, _ = runs[name]
        stats = json.loads(stats_path(cfg.data.output_jsonl, 0).read_text())
        assert stats["done"] == 4 and stats["decodes"] == 3 * 2 + 1, name
        others = {str(runs[o][1]) for o in first if o != name}
        assert set(stats["shared_with"]) == others, name


def test_the_transcript_windows_are_heard_and_feed_a_caption(runs):
    heard, told = _by_key(runs["heard"][1]), _by_key(runs["told"][1])
    transcripts = _by_key(runs["transcribe"][1])
    for key, t in transcripts.items():
        result = t["result"]
        assert result["language"] == "en"  # a chat model names none: the default
        assert result["text"] == t["text"] == " ".join(s["text"] for s in result["segments"])
        audio = heard[key]["audio"]
        if not audio["present"]:
            assert t["tokens"]["prompt"] == 0 and result["segments"] == []
            continue
        # windows of 4 s: the long video's 6 s in two requests, the others' in one
        windows = -(-audio["seconds"] // 4)
        starts = [s["start"] for s in result["segments"]]
        assert starts == sorted(starts) and len(starts) <= windows
        # each window's prompt is the same text with its audio's pads: the audio the
        # video's request heard (its pads and two markers) makes up the difference
        text = t["tokens"]["prompt"] - (audio["tokens"] - 2)
        assert text == windows * _chat_text_tokens(runs), key
        assert told[key]["upstream"]["transcribe"]["text"] == t["text"], key


def _chat_text_tokens(runs) -> int:
    """The text tokens of a transcript window's chat prompt (its one audio pad left out)."""
    from transformers import AutoProcessor

    from video_pipeline.tasks.registry import get_task_class

    cfg, _ = runs["transcribe"]
    processor = AutoProcessor.from_pretrained(cfg.vllm.model)
    task = get_task_class("transcribe")(**cfg.task_kwargs)
    chat = [
        {
            "role": "user",
            "content": [
                {"type": "audio", "audio": ""},
                {"type": "text", "text": task.chat_instruction()},
            ],
        }
    ]
    prompt = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    return len(processor.tokenizer(prompt, add_special_tokens=False)["input_ids"]) - 1


def test_qwen3_omni_hears_the_videos_with_audio(runs):
    heard, qwen3 = _by_key(runs["heard"][1]), _by_key(runs["qwen3"][1])
    for key, r in qwen3.items():
        assert r["audio"]["present"] == heard[key]["audio"]["present"], key
        assert r["audio"]["seconds"] == heard[key]["audio"]["seconds"], key


def test_a_resumed_hearing_run_redoes_no_key(runs):
    raw, out = runs["qwen3"]
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
