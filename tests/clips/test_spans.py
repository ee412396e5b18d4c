"""Fixed windows and shots: coverings of [start, end) with no gap."""

from __future__ import annotations

import itertools
import random

import pytest

from tests.clips.conftest import assert_covering
from video_pipeline.clips.spans import Clip, covering_problems, fixed_windows, shot_windows


def bounds(clips: list[Clip]) -> list[tuple[float, float]]:
    return [(c.start, c.end) for c in clips]


def test_five_minutes_in_windows_of_thirty_seconds():
    clips = fixed_windows(0.0, 300.0, 30.0, 0.0, 2.0)
    assert bounds(clips) == [(30.0 * i, 30.0 * (i + 1)) for i in range(10)]
    assert_covering(clips, 0.0, 300.0)


@pytest.mark.parametrize("length", [0.5, 5.0, 29.0, 30.0, 31.9])
def test_a_span_up_to_seconds_plus_min_seconds_is_one_clip(length: float):
    clips = fixed_windows(0.0, length, 30.0, 0.0, 2.0)
    assert bounds(clips) == [(0.0, length)]


def test_a_tail_shorter_than_min_seconds_joins_the_window_before():
    clips = fixed_windows(0.0, 301.5, 30.0, 0.0, 2.0)
    assert len(clips) == 10
    assert bounds(clips)[-1] == (270.0, 301.5)
    assert_covering(clips, 0.0, 301.5)


def test_a_tail_of_min_seconds_or_more_is_a_window_of_its_own():
    clips = fixed_windows(0.0, 305.0, 30.0, 0.0, 2.0)
    assert bounds(clips)[-2:] == [(270.0, 300.0), (300.0, 305.0)]
    assert_covering(clips, 0.0, 305.0)


def test_overlap_is_shared_by_consecutive_windows():
    clips = fixed_windows(0.0, 100.0, 30.0, 10.0, 2.0)
    assert bounds(clips) == [(0, 30), (20, 50), (40, 70), (60, 90), (80, 100)]
    for a, b in itertools.pairwise(clips):
        assert a.end - b.start == pytest.approx(10.0)
    assert_covering(clips, 0.0, 100.0, overlap=10.0)
    assert covering_problems(clips, 0.0, 100.0, overlap=0.0)  # more than no overlap


def test_with_overlap_a_tail_counts_what_the_window_before_did_not_cover():
    # After [60, 90) one second is new: too little for a window, so [60, 90) reaches 91.
    clips = fixed_windows(0.0, 91.0, 30.0, 10.0, 2.0)
    assert bounds(clips)[-1] == (60.0, 91.0)
    assert_covering(clips, 0.0, 91.0, overlap=10.0)


def test_windows_of_a_span_start_at_its_start():
    clips = fixed_windows(12.5, 100.0, 30.0, 0.0, 2.0)
    assert bounds(clips) == [(12.5, 42.5), (42.5, 72.5), (72.5, 100.0)]


def test_coverings_hold_for_many_lengths_and_settings():
    rng = random.Random(1)
    for _ in range(500):
        seconds = rng.uniform(0.5, 90)
        overlap = rng.choice([0.0, rng.uniform(0, seconds * 0.9)])
        min_s = rng.uniform(0.01, seconds * 0.99)
        start = rng.choice([0.0, rng.uniform(0, 100)])
        end = start + rng.uniform(0.01, 1000)
        clips = fixed_windows(start, end, seconds, overlap, min_s)
        assert_covering(clips, start, end, overlap)
        if len(clips) > 1:
            # bounds are rounded to ms, hence the 2 ms of slack
            assert all(c.seconds >= min_s - 2e-3 for c in clips)
            assert all(c.seconds <= seconds + min_s + 2e-3 for c in clips)
            assert all(c.seconds <= seconds + 2e-3 for c in clips[:-1])


def test_shots_meet_at_the_cuts():
    clips = shot_windows([3.0, 7.5, 12.25], 0.0, 20.0, 30.0, 2.0)
    assert bounds(clips) == [(0.0, 3.0), (3.0, 7.5), (7.5, 12.25), (12.25, 20.0)]


def test_short_shots_merge_until_min_seconds():
    # 1 s and 0.5 s shots join what follows; the short last one joins the one before.
    clips = shot_windows([1.0, 1.5, 6.0, 9.5], 0.0, 10.0, 30.0, 2.0)
    assert bounds(clips) == [(0.0, 6.0), (6.0, 10.0)]
    assert all(c.seconds >= 2.0 for c in clips)


def test_long_shots_are_cut_into_equal_pieces_no_longer_than_seconds():
    clips = shot_windows([10.0], 0.0, 75.0, 30.0, 2.0)
    assert bounds(clips) == [(0.0, 10.0), (10.0, 31.667), (31.667, 53.333), (53.333, 75.0)]
    assert max(c.seconds for c in clips) <= 30.0
    assert_covering(clips, 0.0, 75.0)


def test_cuts_outside_the_span_are_ignored():
    clips = shot_windows([2.0, 15.0, 40.0], 10.0, 30.0, 30.0, 2.0)
    assert bounds(clips) == [(10.0, 15.0), (15.0, 30.0)]


def test_shot_coverings_hold_for_many_cut_lists():
    rng = random.Random(2)
    for _ in range(300):
        end = rng.uniform(1, 500)
        cuts = sorted(rng.uniform(-5, end + 5) for _ in range(rng.randint(0, 40)))
        seconds = rng.uniform(1, 60)
        min_s = rng.uniform(0.01, seconds * 0.99)
        clips = shot_windows(cuts, 0.0, end, seconds, min_s)
        assert_covering(clips, 0.0, end)
        assert all(c.seconds <= seconds + 2e-3 for c in clips)


@pytest.mark.parametrize(
    ("clips", "problem"),
    [
        ([Clip(0, 0, 10), Clip(1, 11, 20)], "gap between 10 and 11"),
        ([Clip(0, 0, 10), Clip(1, 8, 20)], "share 2s"),
        ([Clip(0, 0, 10), Clip(1, 10, 19)], "last clip ends at 19"),
        ([Clip(0, 1, 10), Clip(1, 10, 20)], "first clip starts at 1"),
        ([Clip(0, 0, 10), Clip(2, 10, 20)], "clip 1 has index 2"),
        ([], "no clips"),
    ],
)
def test_the_covering_check_finds_each_defect(clips: list[Clip], problem: str):
    assert any(problem in p for p in covering_problems(clips, 0.0, 20.0)), problem


def test_an_empty_span_is_refused():
    with pytest.raises(ValueError, match="start < end"):
        fixed_windows(5.0, 5.0, 30.0)
