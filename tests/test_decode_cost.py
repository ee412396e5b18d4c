"""The decode cost model: qwen_vl_utils' own frame counts and sizes, costs that grow
with what a codec has to decode, memory from the final frames, and the warnings."""

from __future__ import annotations

from pathlib import Path

import pytest

from video_pipeline.config import load_config
from video_pipeline.config.schema import VisionConfig
from video_pipeline.decode_cost import (
    CHUNKED_OVERHEAD_BYTES,
    DecodeCosts,
    DecodePlan,
    VideoFacts,
    cores_per_gpu,
    decode_s,
    predict,
    video_facts,
    worker_budget_mb,
)
from video_pipeline.fixtures.videos import make_video

H264_1080P = VideoFacts("h264", 1920, 1080, 60.0, 30.0, 1800, 10e6)


@pytest.mark.parametrize("patch", [14, 16])
@pytest.mark.parametrize("bounds", [(None, None), (0.5, 2.25)])
def test_frames_and_size_are_qwen_vl_utils_own(tmp_path: Path, patch: int, bounds) -> None:
    """Against a real decode of a generated video by qwen_vl_utils' fetch_video."""
    from qwen_vl_utils.vision_process import fetch_video

    path = make_video(tmp_path / "v.mp4", seconds=3.0, fps=10, width=96, height=64)
    vision = VisionConfig(total_pixels=64 * (2 * patch) ** 2, min_pixels=4 * (2 * patch) ** 2)
    ele = {"video": str(path), **vision.video_element()}
    start, end = bounds
    if start is not None:
        ele.update(video_start=start, video_end=end)
    frames = fetch_video(ele, image_patch_size=patch)
    cost = predict(video_facts(str(path)), vision, patch, start, end)
    t, _c, h, w = frames.shape
    assert (cost.sampled_frames, cost.frame_size) == (t, f"{h}x{w}")
    assert cost.peak_mb == pytest.approx((t * 3 * h * w + CHUNKED_OVERHEAD_BYTES) / 2**20, 0.01)


def test_facts_from_the_header(tmp_path: Path) -> None:
    path = make_video(tmp_path / "v.webm", seconds=2.0, fps=8, width=80, height=48, codec="libvpx")
    f = video_facts(str(path))
    assert (f.width, f.height, f.frames, f.fps) == (80, 48, 16, 8.0)
    assert f.codec == "vp8" and f.bit_rate > 0 and f.duration == pytest.approx(2.0)


def test_cost_grows_with_what_the_codec_decodes() -> None:
    vision = VisionConfig()
    base = predict(H264_1080P, vision, 14)
    assert base.decoded_frames == 1800 and base.sampled_frames == 120
    assert not base.frames_capped
    denser = predict(VideoFacts("h264", 1920, 1080, 60.0, 30.0, 1800, 40e6), vision, 14)
    assert denser.cpu_s > base.cpu_s
    assert predict(VideoFacts("hevc", *_rest(H264_1080P)), vision, 14).cpu_s > base.cpu_s
    unknown = predict(VideoFacts("prores", *_rest(H264_1080P)), vision, 14)
    assert unknown.cpu_s >= max(
        predict(VideoFacts(c, *_rest(H264_1080P)), vision, 14).cpu_s
        for c in ("h264", "hevc", "vp9", "av1")
    )
    clip = predict(H264_1080P, vision, 14, 10.0, 40.0)
    assert clip.decoded_frames == 901 and clip.cpu_s < base.cpu_s / 1.8
    fast = predict(H264_1080P, VisionConfig(), 14)
    assert fast == base  # without `vision.resize`, the exact resize
    wide = predict(H264_1080P, VisionConfig(frame_dtype="float32"), 14)
    assert wide.peak_mb - 512 == pytest.approx(4 * (base.peak_mb - 512), 0.01)


def test_calibration_fits_the_measured_real_videos() -> None:
    """torchcodec alone, one thread (docstring of decode_cost): the pixels alone never
    reach the measured time, and the bitrate the model needs to reproduce it is one
    such noisy videos are encoded at (3.7-61 Mbit/s)."""
    cases = [
        (VideoFacts("h264", 1920, 1080, 60.0, 30.0, 1800, 0), 10.4, 10.6e6),
        (VideoFacts("h264", 3840, 2160, 10.0, 30.0, 300, 0), 8.9, 61e6),
        (VideoFacts("h264", 1280, 720, 600.0, 30.0, 18000, 0), 39.8, 3.7e6),
        (VideoFacts("hevc", 1920, 1080, 30.0, 30.0, 900, 0), 6.8, 5.3e6),
    ]
    for facts, measured, implied in cases:
        assert decode_s(facts, facts.frames) < measured
        at = VideoFacts(**{**facts.__dict__, "bit_rate": implied})
        assert decode_s(at, at.frames) == pytest.approx(measured, rel=0.03), facts


def test_long_video_is_capped_and_the_old_reader_is_far_larger() -> None:
    long = VideoFacts("h264", 1280, 720, 600.0, 30.0, 18000, 4e6)
    cost = predict(long, VisionConfig(), 14)
    assert cost.sampled_frames == 768 and cost.frames_capped
    assert cost.peak_mb_whole > 4 * cost.peak_mb


def test_budgets() -> None:
    assert cores_per_gpu(4.6, 780) == pytest.approx(4.6 * 780 / 3600)
    assert worker_budget_mb(128 * 1024, 8, 4) == 4096
    assert worker_budget_mb(1024, 1, 0) == 1024  # num_workers 0 still runs one worker


def test_collection_warnings_name_the_key_and_suggest_clips(tmp_path: Path) -> None:
    path = make_video(tmp_path / "v.mp4", seconds=3.0, fps=10, width=96, height=64)
    raw = {
        "data": {
            "input_jsonl": str(tmp_path / "in.jsonl"),
            "output_jsonl": str(tmp_path / "o.jsonl"),
        },
        "vllm": {"model": "m"},
        "run": {"decode_timeout_s": 0.01},
    }
    costs = DecodeCosts(load_config(data=raw), 14, DecodePlan(3600, 64 * 1024, 1))
    probes = [
        {"key": "a", "status": "ok", "decode_s": 0.2, "video": {"value": "v.mp4"}},
        {"key": "b", "status": "ok", "decode_s": 0.1, "video": {"value": str(path), "end": 1.0}},
        {"key": "c", "status": "error", "video": {"value": "missing.mp4"}},
        {"key": "d", "status": "ok", "video": {"value": "s3://bucket/v.mp4"}},
    ]
    for p in probes:
        costs.add(p)
    s = costs.summary()
    assert (s["videos"], s["not_predicted"], s["over_timeout"], s["over_memory"]) == (2, 2, 2, 0)
    assert "error" in probes[2]["predicted"] and "remote" in probes[3]["predicted"]["error"]
    assert probes[1]["predicted"]["decoded_frames"] < probes[0]["predicted"]["decoded_frames"]
    assert [w["key"] for w in costs.warnings] == ["a", "b"]
    assert "run.decode_timeout_s" in costs.warnings[0]["why"][0]
    assert "clips.mode" in costs.warnings[0]["suggest"]
    assert s["cores_per_gpu"] == pytest.approx(s["cpu_s_mean"], abs=0.01)
    assert s["measured_over_predicted"] == pytest.approx(0.3 / costs.measured_predicted_s, 0.01)


def _rest(f: VideoFacts) -> tuple:
    return (f.width, f.height, f.duration, f.fps, f.frames, f.bit_rate)
