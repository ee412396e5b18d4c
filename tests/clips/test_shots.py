"""Shot boundaries of a generated video with hard cuts at known times."""

from __future__ import annotations

import pytest

from tests.clips.conftest import CUTS, CUTS_FPS
from video_pipeline.clips.shots import detect_cuts
from video_pipeline.errors import SampleError

FRAME = 1.0 / CUTS_FPS


def assert_found(found: list[float], truth: list[float]) -> None:
    """Each cut found at the first frame of its new shot: within one frame interval."""
    assert len(found) == len(truth), (found, truth)
    for f, t in zip(found, truth, strict=True):
        assert 0.0 <= f - t < FRAME + 1e-6, (f, t)


@pytest.fixture(scope="module")
def whole(clip_videos) -> list[float]:
    return detect_cuts(str(clip_videos["cuts"]), min_shot=2.0)


def test_every_cut_is_found_within_one_frame(whole: list[float]):
    assert_found(whole, list(CUTS))


def test_cuts_within_a_span_only(clip_videos):
    found = detect_cuts(str(clip_videos["cuts"]), 5.0, 25.0, min_shot=2.0)
    assert_found(found, [c for c in CUTS if 5.0 < c < 25.0])


def test_a_video_without_cuts_has_none(clip_videos):
    assert detect_cuts(str(clip_videos["short"]), min_shot=2.0) == []


def test_a_broken_file_is_a_decode_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video\n" * 50)
    with pytest.raises(SampleError) as e:
        detect_cuts(str(bad))
    assert e.value.kind == "decode_error"
