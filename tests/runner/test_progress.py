"""Progress lines and the timeline: rates from the engine's answers, not instant errors."""

from __future__ import annotations

import logging

import pytest

from video_pipeline.report.charts import rates_over_time
from video_pipeline.runner.progress import Progress, RankStats


def test_eta_waits_for_answers_and_ignores_instant_errors(caplog: pytest.LogCaptureFixture):
    stats = RankStats(rank=0, world_size=1, task="describe", fingerprint="f", todo=10)
    progress = Progress(stats, every=1, point_every_s=0.0)
    with caplog.at_level(logging.INFO, logger="video_pipeline"):
        for _ in range(4):  # bad rows: fail before the engine, in no time
            stats.failed += 1
            progress.tick()
    # six decodes still in flight: no rate to trust yet, whatever 4 instant errors say
    assert caplog.records[-1].getMessage().endswith("ETA ?")
    progress.t0 -= 50.0  # a 50 s decode and the first answer
    stats.answered += 1
    stats.done += 1
    progress.tick()
    line = progress.line()
    eta = line.split("ETA ")[1].split()[0]
    minutes, seconds = eta.rstrip("s").split("m")
    # 5 left at one answer per ~50 s: about 250 s, not the 5 s the finished count implies
    assert 200 <= int(minutes) * 60 + int(seconds) <= 300
    assert stats.timeline[-1][1:] == [5, 1]


def test_the_rate_chart_counts_answers():
    # 4 error rows at t=0.01 (a spike of 400/s by finished count), then one answer a second
    points = [[0.01, 4, 0], [1.0, 5, 1], [2.0, 6, 2]]
    assert max(_rates(points)) <= 1.02
    assert max(_rates([[0.01, 4], [1.0, 5]])) > 100  # a timeline of finished counts only


def _rates(points: list[list[float]]) -> list[float]:
    chart = rates_over_time([("rank 0", points)], "videos/s").to_dict()
    return [row["rate"] for row in chart["data"]["values"]]
