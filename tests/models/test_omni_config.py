"""`vision.use_audio_in_video`: refused for a family that cannot hear, before any model
loads; part of the fingerprint only when on (other configs keep their hash)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import demo_config
from video_pipeline.config import ConfigError, load_config
from video_pipeline.fingerprint import fingerprint, payload
from video_pipeline.runner.checks import check_model


def _cfg(model: Path, tmp_path: Path, **vision):
    raw = demo_config(model, tmp_path / "in.jsonl", tmp_path / "out.jsonl")
    raw["vision"].update(vision)
    return load_config(data=raw)


def test_a_family_that_cannot_hear_refuses_the_key(tiny_models, tmp_path: Path):
    cfg = _cfg(tiny_models("qwen2_5_vl"), tmp_path, use_audio_in_video=True)
    with pytest.raises(ConfigError, match=r"vision\.use_audio_in_video: Qwen2\.5-VL"):
        check_model(cfg)
    assert check_model(_cfg(tiny_models("qwen2_5_vl"), tmp_path)).name == "qwen2_5_vl"


def test_an_omni_model_hears_unless_audio_items_are_refused(tiny_models, tmp_path: Path):
    model = tiny_models("qwen2_5_omni")
    assert check_model(_cfg(model, tmp_path, use_audio_in_video=True)).hears
    cfg = _cfg(model, tmp_path, use_audio_in_video=True)
    cfg.vllm.limit_mm_per_prompt["audio"] = 0
    with pytest.raises(ConfigError, match=r"vllm\.limit_mm_per_prompt\.audio"):
        check_model(cfg)


def test_the_fingerprint_includes_the_audio_settings(tiny_models, tmp_path: Path):
    model = tiny_models("qwen2_5_omni")
    off, on = _cfg(model, tmp_path), _cfg(model, tmp_path, use_audio_in_video=True)
    assert "use_audio_in_video" not in payload(off, "torchcodec")["vision"]  # hash kept
    assert payload(on, "torchcodec")["vision"]["audio"] == {
        "use_audio_in_video": True,
        "sample_rate": 16000,
    }
    assert fingerprint(off, "torchcodec") != fingerprint(on, "torchcodec")


def test_launch_refuses_a_task_that_hears_or_transcribes_on_a_model_that_cannot(
    tiny_models, tmp_path: Path, capsys
):
    """Checked for each task's own settings before any model loads: an entry's own
    `vision: {use_audio_in_video: true}`, and `transcribe` on a model that sees only."""
    from tests.helpers import write_config
    from video_pipeline.cli import launch
    from video_pipeline.fixtures.videos import make_video, write_input_jsonl

    rows = write_input_jsonl(tmp_path / "in.jsonl", [make_video(tmp_path / "v.mp4")])
    raw = demo_config(tiny_models("qwen2_5_vl"), rows, tmp_path / "out" / "{task}.jsonl")
    del raw["run"]["task"]
    heard = {"name": "heard", "task": "describe", "vision": {"use_audio_in_video": True}}
    for tasks, says in (
        (["describe", heard], r"vision\.use_audio_in_video: Qwen2\.5-VL"),
        (["describe", "transcribe"], r"task 'transcribe' takes the soundtrack alone: Qwen2\.5-VL"),
    ):
        cfg = write_config(tmp_path / "c.yaml", {**raw, "tasks": tasks})
        with pytest.raises(SystemExit) as stopped:
            launch.main(["--config", str(cfg), "--nproc", "1"])
        assert stopped.value.code != 0
        err = capsys.readouterr().err
        assert re.search(says, err), err
        assert not (tmp_path / "out" / "describe.rank0.jsonl").exists()  # no rank ran
