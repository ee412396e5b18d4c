"""Durations from container metadata, and a decode when the metadata is absent or lies."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from video_pipeline.clips.probe import probe_video, video_location
from video_pipeline.errors import SampleError
from video_pipeline.fixtures.videos import make_video, set_container_duration


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("odd videos")


@pytest.mark.parametrize(
    ("name", "codec", "container"),
    [
        ("a.mp4", "libx264", None),
        ("a.webm", "libvpx", None),
        ("a.mkv", "libx264", None),
        ("a.avi", "mpeg4", None),
    ],
)
def test_honest_containers_are_read_from_metadata(odd: Path, name, codec, container):
    path = make_video(odd / name, seconds=20, fps=5, codec=codec, container=container)
    probe = probe_video(str(path))
    assert probe.source == "container"
    assert probe.duration == pytest.approx(20.0, abs=1e-3)
    assert probe.fps == pytest.approx(5.0)


def test_five_minutes_from_metadata(clip_videos):
    probe = probe_video(str(clip_videos["long"]))
    assert (probe.source, probe.duration, probe.frames) == ("container", 300.0, 600)


@pytest.mark.parametrize("claimed", [200.0, 2.0, None], ids=["longer", "shorter", "absent"])
def test_a_webm_header_that_lies_or_says_nothing_is_decoded(odd: Path, claimed):
    path = make_video(odd / f"lie-{claimed}.webm", seconds=20, fps=5, codec="libvpx")
    set_container_duration(path, claimed)
    with av.open(str(path)) as c:  # the header does say what the test wants it to
        said = None if c.duration is None else c.duration / av.time_base
    assert said == (pytest.approx(claimed) if claimed else None)
    probe = probe_video(str(path))
    assert (probe.source, probe.frames) == ("decode", 100)
    assert probe.duration == pytest.approx(20.0, abs=1e-3)


def test_a_raw_h264_stream_has_no_duration_and_is_decoded(odd: Path):
    path = make_video(odd / "raw.h264", seconds=10, fps=4, container="h264")
    probe = probe_video(str(path))
    assert (probe.source, probe.frames) == ("decode", 40)
    assert probe.duration == pytest.approx(10.0)
    assert probe.fps == pytest.approx(4.0)  # the stream's own rate, not FFmpeg's 25


def test_a_partial_download_counts_the_frames_that_are_there(odd: Path):
    # A "fast start" MP4 announces its whole length up front; cut it to a third.
    full = odd / "fast start.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(full), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(100):  # noise: frames big enough for a cut to lose many
            img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    cut = odd / "partial.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    with av.open(str(cut)) as c:
        assert c.duration / av.time_base == pytest.approx(20.0)  # still claims 20 s
    probe = probe_video(str(cut))
    assert probe.source == "decode"
    assert 20 <= probe.frames <= 40
    assert probe.duration == pytest.approx(probe.frames / 5.0, abs=0.21)


def test_a_missing_file_is_video_not_found(odd: Path):
    with pytest.raises(SampleError) as e:
        probe_video(str(odd / "nowhere.mp4"))
    assert e.value.kind == "video_not_found"
    assert "nowhere.mp4" in e.value.message


@pytest.mark.parametrize("what", ["empty", "text", "audio only", "noise"])
def test_files_that_are_not_videos_are_decode_errors(odd: Path, what: str):
    path = odd / f"{what}.mp4"
    if what == "empty":
        path.write_bytes(b"")
    elif what == "text":
        path.write_text("not a video\n" * 100)
    elif what == "noise":
        path.write_bytes(np.random.default_rng(1).bytes(30000))
    else:
        with av.open(str(path), "w") as out:
            stream = out.add_stream("aac", rate=16000)
            for i in range(8):
                frame = av.AudioFrame.from_ndarray(
                    np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
                )
                frame.sample_rate, frame.pts = 16000, i * 1024
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
    with pytest.raises(SampleError) as e:
        probe_video(str(path))
    assert e.value.kind == "decode_error"
    assert e.value.message


def test_locations_resolve_as_the_dataset_resolves_them(tmp_path: Path, clip_videos):
    base = tmp_path / "in"
    base.mkdir()
    shutil.copy(clip_videos["short"], base / "v.mp4")
    assert video_location("v.mp4", base) == str(base / "v.mp4")
    assert video_location(f"file://{base}/v.mp4", "/elsewhere") == f"{base}/v.mp4"
    assert video_location("/abs/v.mp4", base) == "/abs/v.mp4"
    assert video_location("https://host/v.mp4", base) == "https://host/v.mp4"
    with pytest.raises(SampleError) as e:
        video_location(None, base)
    assert e.value.kind == "missing_video"
