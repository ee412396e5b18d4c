"""Clip bounds: fixed windows or shots, covering a span `[start, end)` with no gap.

Pure arithmetic on seconds; probing and shot detection live elsewhere. Boundaries are
rounded to milliseconds, the precision of clip keys, so that a clip's key and its
bounds say the same thing and consecutive clips meet exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

_EPS = 1e-6  # below the millisecond precision of keys: float noise, not content


@dataclass(frozen=True)
class Clip:
    """One clip of a video: its position in the video's clip list and its bounds."""

    index: int
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, float | int]:
        return {"index": self.index, "start": self.start, "end": self.end}


def _ms(t: float) -> float:
    return round(t, 3)


def _clips(bounds: Sequence[tuple[float, float]]) -> list[Clip]:
    return [Clip(i, _ms(s), _ms(e)) for i, (s, e) in enumerate(bounds)]


def fixed_windows(
    start: float, end: float, seconds: float, overlap: float = 0.0, min_seconds: float = 0.0
) -> list[Clip]:
    """Windows of `seconds`, each starting `seconds - overlap` after the one before.

    The windows reach `end`: after the last full window, what is left (the tail) becomes
    a window of its own, starting `seconds - overlap` after the previous one, unless it
    is shorter than `min_seconds`: then the last full window is stretched to `end`. A
    span no longer than `seconds` (or than `seconds + min_seconds`) is one clip.
    """
    _check_span(start, end)
    step = seconds - overlap
    if step <= 0:
        raise ValueError(f"overlap ({overlap}) must be < seconds ({seconds})")
    bounds: list[tuple[float, float]] = []
    k = 0
    while start + k * step + seconds < end - _EPS:  # a full window that stops short of end
        s = start + k * step
        # Without overlap a window ends where the next starts: the same float, no gap.
        bounds.append((s, start + (k + 1) * step if not overlap else s + seconds))
        k += 1
    tail_from = bounds[-1][1] if bounds else start
    if bounds and end - tail_from < min_seconds - _EPS:
        bounds[-1] = (bounds[-1][0], end)
    else:
        bounds.append((start + k * step, end))
    return _clips(bounds)


def shot_windows(
    cuts: Sequence[float], start: float, end: float, seconds: float, min_seconds: float = 0.0
) -> list[Clip]:
    """Shots between `cuts`, shorter ones merged, longer ones cut, covering the span.

    A shot shorter than `min_seconds` joins the shots after it until the group is long
    enough (a short last group joins the one before). A shot (or group) longer than
    `seconds` is cut into the fewest equal pieces no longer than `seconds`: `seconds`
    bounds the tokens of a clip, so it is never exceeded, and equal pieces leave no
    sliver at the end.
    """
    _check_span(start, end)
    points = [start, *sorted(c for c in cuts if start + _EPS < c < end - _EPS), end]
    groups: list[tuple[float, float]] = []
    group_start = start
    for p in points[1:]:
        if p - group_start >= min_seconds - _EPS:
            groups.append((group_start, p))
            group_start = p
    if group_start < end - _EPS:  # a short remainder
        if groups:
            groups[-1] = (groups[-1][0], end)
        else:
            groups.append((group_start, end))
    bounds: list[tuple[float, float]] = []
    for s, e in groups:
        n = max(1, math.ceil((e - s) / seconds - _EPS))
        bounds += [(s + (e - s) * i / n, s + (e - s) * (i + 1) / n) for i in range(n)]
    return _clips(bounds)


def covering_problems(
    clips: Sequence[Clip], start: float, end: float, overlap: float = 0.0
) -> list[str]:
    """What is wrong with `clips` as a covering of `[start, end)`; empty when nothing.

    A covering starts at `start`, ends at `end`, has no gap, no clip sharing more than
    `overlap` with the one before, no empty clip, and indices 0, 1, 2, ...
    """
    if not clips:
        return ["no clips"]
    problems = []
    if abs(clips[0].start - _ms(start)) > _EPS:
        problems.append(f"first clip starts at {clips[0].start}, not {start}")
    if abs(clips[-1].end - _ms(end)) > _EPS:
        problems.append(f"last clip ends at {clips[-1].end}, not {end}")
    for i, c in enumerate(clips):
        if c.index != i:
            problems.append(f"clip {i} has index {c.index}")
        if c.end <= c.start:
            problems.append(f"clip {i} is empty: [{c.start}, {c.end})")
    for a, b in pairwise(clips):
        if b.start > a.end + _EPS:
            problems.append(f"gap between {a.end} and {b.start}")
        if a.end - b.start > overlap + 1e-3:  # bounds are rounded to ms
            problems.append(f"clips {a.index} and {b.index} share {a.end - b.start:g}s")
        if b.start < a.start + _EPS:
            problems.append(f"clip {b.index} does not start after clip {a.index}")
    return problems


def _check_span(start: float, end: float) -> None:
    if not (math.isfinite(start) and math.isfinite(end)) or end - start <= _EPS:
        raise ValueError(f"a clip span needs start < end, got [{start}, {end})")
