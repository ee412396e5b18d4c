"""Videos for the clip tests, generated once per module run (tiny frames, low rates)."""

from __future__ import annotations

from pathlib import Path

import pytest

from video_pipeline.clips.spans import Clip, covering_problems
from video_pipeline.fixtures.videos import make_video

CUTS = (3.0, 7.4, 12.25, 20.1, 33.3)  # hard cuts of the `cuts` video, in seconds
CUTS_FPS = 8


@pytest.fixture(scope="session")
def clip_videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clip videos")
    return {
        # Five minutes at 2 fps, 32x32: 600 frames, written in a fraction of a second.
        "long": make_video(d / "long.mp4", seconds=300, fps=2, width=32, height=32),
        "short": make_video(d / "short.mp4", seconds=5, fps=8),
        "almost": make_video(d / "almost.webm", seconds=29, fps=4, codec="libvpx"),
        "cuts": make_video(d / "cuts.mp4", seconds=40, fps=CUTS_FPS, cuts=CUTS),
    }


def assert_covering(clips: list[Clip], start: float, end: float, overlap: float = 0.0) -> None:
    """No gap, no overlap beyond `overlap`, from `start` to `end`, indices in order."""
    assert covering_problems(clips, start, end, overlap) == []


def assert_unique(keys: list[str]) -> None:
    dup = sorted({k for k in keys if keys.count(k) > 1})
    assert not dup, f"keys repeated: {dup}"
