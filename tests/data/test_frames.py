"""Chunked decoding gives qwen_vl_utils' own frames, in memory bounded by the output.

"Old" is unmodified qwen_vl_utils: outside `decode_settings` the installed reader and
`fetch_video` call the library's own, which resizes the whole stack and returns float32
frames holding whole values; the chunked path returns the same values as uint8.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from video_pipeline.data import frames
from video_pipeline.data.frames import DecodeSettings, decode_settings, output_size
from video_pipeline.data.video_reader import install_reader, resolve_reader
from video_pipeline.errors import SampleError
from video_pipeline.fixtures.real_videos import make_real_video
from video_pipeline.fixtures.videos import make_video


def decode(video: Path, settings: DecodeSettings | None, patch: int = 14, **ele):
    from qwen_vl_utils import process_vision_info

    element = {"type": "video", "video": str(video), **ele}
    messages = [{"role": "user", "content": [element]}]
    patch = settings.factor // 2 if settings else patch

    def run():
        _, videos, _ = process_vision_info(
            messages, return_video_kwargs=True, return_video_metadata=True, image_patch_size=patch
        )
        return videos[0]

    if settings is None:
        return run()
    with decode_settings(settings):
        return run()


def same_frames(old: torch.Tensor, new: torch.Tensor) -> bool:
    """The library's float32 frames and the chunked path's uint8 ones hold the same
    values (a fractional or out-of-range old value makes them differ)."""
    assert old.dtype == torch.float32 and new.dtype == torch.uint8
    return torch.equal(old, new.float())


READERS = ["torchcodec", "decord"]
CASES = [  # (vision settings, factor)
    ({"fps": 2.0, "total_pixels": 50176, "min_pixels": 3136}, 28),
    ({"fps": 4.0}, 28),
    ({"nframes": 6, "max_pixels": 1024 * 8, "min_pixels": 1024 * 4}, 32),
    ({"fps": 8.0, "video_start": 0.5, "video_end": 1.5, "min_pixels": 3136 * 8}, 32),
    ({"nframes": 4, "resized_height": 60, "resized_width": 90}, 28),
]


@pytest.fixture(scope="module")
def real_1080p(tmp_path_factory) -> Path:
    """2 s of 1080p30 x264 (testsrc2 with noise): real decode and resize costs."""
    return make_real_video(tmp_path_factory.mktemp("real") / "r.mp4", 2, 1920, 1080)


@pytest.mark.parametrize("reader", READERS)
def test_same_frames_and_metadata_as_qwen_vl_utils(tmp_path, video_dir, reader):
    install_reader(reader)
    wide = make_video(tmp_path / "wide.mp4", width=320, height=96, seconds=2.0)
    videos = [*sorted(video_dir.glob("*.mp4"))[:2], wide]
    for video in videos:
        for ele, factor in CASES:
            old_frames, old_meta = decode(video, None, patch=factor // 2, **ele)
            new_frames, new_meta = decode(video, DecodeSettings(factor), **ele)
            assert same_frames(old_frames, new_frames), (video.name, ele)
            assert old_meta == new_meta


@pytest.mark.parametrize("reader", READERS)
def test_realistic_1080p_exact_is_identical_fast_is_close(real_1080p, reader):
    install_reader(reader)
    old, old_meta = decode(real_1080p, None, fps=2.0)
    exact, meta = decode(real_1080p, DecodeSettings(28), fps=2.0)
    assert same_frames(old, exact) and old_meta == meta
    fast, _ = decode(real_1080p, DecodeSettings(28, resize="fast"), fps=2.0)
    diff = (fast.float() - old).abs()
    psnr = 10 * torch.log10(255**2 / (diff**2).mean())
    assert diff.max() <= 32 and psnr > 40, (diff.max(), psnr)


def test_size_fetch_video_would_not_keep_falls_back_to_its_own_path(tmp_path):
    """For 144x72 frames with these budgets smart_resize is not a fixed point of its own
    output (84x28 -> 112x56): the whole-stack path keeps the frames identical."""
    install_reader(resolve_reader("auto"))
    ele = {"nframes": 16, "min_pixels": 3136, "total_pixels": 50176}
    size = output_size(ele, 16, 72, 144, 28)
    assert output_size(ele, 16, *size, 28) != size
    video = make_video(tmp_path / "odd.mp4", width=144, height=72, seconds=2.0)
    old, _ = decode(video, None, **ele)
    new, _ = decode(video, DecodeSettings(28), **ele)
    assert same_frames(old, new)
    limit = frames.FULL_RES_LIMIT
    frames.FULL_RES_LIMIT = 1000  # bytes: now the fallback's full frames are too many
    try:
        with pytest.raises(SampleError) as err:
            decode(video, DecodeSettings(28), **ele)
    finally:
        frames.FULL_RES_LIMIT = limit
    assert err.value.kind == "video_too_large" and "clips" in err.value.message


def test_images_and_a_user_fetch_video_are_left_alone(tmp_path, monkeypatch):
    """Only a video file's `fetch_video` is replaced: images decode as the library
    does, and a `fetch_video` installed by someone else is kept."""
    import numpy as np
    import qwen_vl_utils.vision_process as vp
    from PIL import Image
    from qwen_vl_utils import process_vision_info

    from video_pipeline.data import video_reader

    install_reader(resolve_reader("auto"))
    assert vp.fetch_video.__wrapped__.__module__ == vp.__name__
    image = tmp_path / "i.png"
    Image.fromarray(np.arange(96 * 64 * 3, dtype=np.uint8).reshape(64, 96, 3)).save(image)
    messages = [{"role": "user", "content": [{"type": "image", "image": str(image)}]}]
    old, _ = process_vision_info(messages)
    with decode_settings(DecodeSettings(28)):
        new, _ = process_vision_info(messages)
    assert np.array_equal(np.asarray(old[0]), np.asarray(new[0]))

    def users(ele, *args, **kwargs):
        raise AssertionError("unused")

    monkeypatch.setattr(vp, "fetch_video", users)
    monkeypatch.setattr(video_reader, "_installed", None)
    install_reader(resolve_reader("auto"))
    assert vp.fetch_video is users


def test_frames_decoded_follows_the_keyframes():
    assert frames.frames_decoded([0, 10], [0, 5, 9]) == 10  # forward from frame 0
    assert frames.frames_decoded([0, 10], [2, 12]) == 3 + 3  # seek to 10 for 12
    assert frames.frames_decoded([], [3]) == 4


MEASURE = """
import json, resource, sys
import torch
from video_pipeline.data.frames import DecodeSettings, decode_settings
from video_pipeline.data.video_reader import install_reader
from qwen_vl_utils import process_vision_info
install_reader("torchcodec")
ele = {"type": "video", "video": sys.argv[1], "fps": 2.0}
start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with decode_settings(DecodeSettings(28)):
    _, v, _ = process_vision_info([{"role": "user", "content": [ele]}],
        return_video_kwargs=True, return_video_metadata=True)
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start
frames = v[0][0]
assert frames.dtype == torch.uint8, frames.dtype
print(json.dumps({"grown_kib": grown, "out_bytes": frames.nelement(), "frames": frames.shape[0]}))
"""


def peak_rss_growth(video: Path) -> dict:
    """Decode `video` at the default vision settings in a fresh process: its peak RSS
    growth (ru_maxrss) and the output's element count."""
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, str(video)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def within_bound(got: dict) -> bool:
    """The uint8 output frames and 0.5 GB (no float32 copy of them)."""
    return got["grown_kib"] * 1024 < got["out_bytes"] + 2**29


def test_peak_rss_bounded_by_output(real_1080p):
    got = peak_rss_growth(real_1080p)
    assert within_bound(got), got


def test_two_hour_video_at_defaults_decodes_within_the_bound(tmp_path):
    """768 frames (the cap) sampled from 216,000: one minute of 30 fps video repeated
    by stream copy, so the file's structure is a real two-hour encode's."""
    video = make_real_video(tmp_path / "2h.mp4", 7200, 64, 48, noise=0, segment=60)
    got = peak_rss_growth(video)
    assert got["frames"] == 768 and within_bound(got), got


def _cuda_devices() -> int:
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")  # keeps fork usable
    return torch.cuda.device_count()


@pytest.mark.skipif(_cuda_devices() > 0, reason="a CUDA device is visible here")
def test_cuda_decode_without_a_device_fails_before_any_model_loads(
    tmp_path, tiny_model, input_jsonl
):
    from tests.helpers import demo_config, run_cli, write_config

    raw = demo_config(tiny_model, input_jsonl, tmp_path / "out" / "o.jsonl")
    raw["vision"]["decode_device"] = "cuda"
    cfg = write_config(tmp_path / "c.yaml", raw)
    launch = run_cli("video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "1", check=False)
    assert launch.returncode != 0
    assert "vision.decode_device: cuda, but no CUDA device is visible" in launch.stderr
    assert not list((tmp_path / "out").glob("*.rank*.jsonl"))
