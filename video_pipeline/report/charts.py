"""The stats panel's charts: Vega-Lite specs built with Altair, rendered to SVG offline
by `vl-convert` (no browser, no network). The page shows them as images, so nothing
in them runs in the page.

Charts take aggregates (counts, histogram bins, rates), never one point per record,
so their size does not grow with the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

WIDTH = 360
HEIGHT = 180


def _chart(values: list[dict[str, Any]], title: str) -> Any:
    import altair as alt

    return alt.Chart(alt.Data(values=values), title=title, width=WIDTH, height=HEIGHT)


def counts(items: dict[str, int], title: str, axis: str, colors: dict[str, str] | None = None):
    """Bars of named counts (statuses, error kinds, finish reasons, flags)."""
    import altair as alt

    values = [{axis: k, "count": int(v)} for k, v in items.items()]
    if not values:
        values = [{axis: "(none)", "count": 0}]
    color = alt.value("#4c78a8")
    if colors:
        color = alt.Color(
            f"{axis}:N",
            scale=alt.Scale(domain=list(colors), range=list(colors.values())),
            legend=None,
        )
    return (
        _chart(values, title)
        .mark_bar()
        .encode(
            x=alt.X(f"{axis}:N", sort=None, title=None, axis=alt.Axis(labelAngle=-30)),
            y=alt.Y("count:Q", title="records"),
            color=color,
            tooltip=[f"{axis}:N", "count:Q"],
        )
    )


def histogram(values: np.ndarray, title: str, unit: str, bins: int = 30):
    """Distribution of a per-record count (tokens), binned here (the chart gets the bins
    only). Bins are whole numbers wide and centred on them, so one value or a few give
    narrow bars over integer ticks, with a bin of room on either side."""
    import altair as alt

    values = values[values >= 0]
    scale = alt.Undefined
    if len(values) == 0:
        rows = [{"start": 0, "end": 1, "count": 0}]
    else:
        lo, hi = int(values.min()), int(values.max())
        width = max(1, -(-(hi - lo + 1) // bins))  # ceil: at most `bins` bins
        edges = np.arange(lo, hi + width + 1, width) - 0.5
        hist, edges = np.histogram(values, bins=edges)
        rows = [
            {"start": float(a), "end": float(b), "count": int(c)}
            for a, b, c in zip(edges[:-1], edges[1:], hist, strict=True)
            if c
        ]
        if len(hist) < 5:  # a few bars: not stretched over the whole axis
            scale = alt.Scale(domain=[float(edges[0] - 2 * width), float(edges[-1] + 2 * width)])
    return (
        _chart(rows, title)
        .mark_bar()
        .encode(
            x=alt.X(
                "start:Q",
                title=unit,
                bin="binned",
                scale=scale,
                axis=alt.Axis(tickMinStep=1, format="d"),
            ),
            x2=alt.X2("end"),
            y=alt.Y("count:Q", title="records"),
        )
    )


def rates_over_time(series: Sequence[tuple[str, list[list[float]]]], title: str):
    """Videos/s of each rank over its run, from the rank's progress timeline: samples
    the engine answered where the timeline has them (rows that fail before the engine
    finish at once and would show as a spike), else samples finished."""
    import altair as alt

    rows = []
    for name, points in series:
        prev_t, prev_n = 0.0, 0.0
        for point in points:
            t, n = point[0], point[2] if len(point) > 2 else point[1]
            if t > prev_t:
                rows.append({"rank": name, "t": round(t, 2), "rate": (n - prev_n) / (t - prev_t)})
                prev_t, prev_n = t, n
    if not rows:
        rows = [{"rank": "(no timeline)", "t": 0.0, "rate": 0.0}]
    return (
        _chart(rows, title)
        .mark_line(point=True)
        .encode(
            x=alt.X("t:Q", title="seconds since the rank started"),
            y=alt.Y("rate:Q", title="videos/s"),
            color=alt.Color("rank:N", title=None),
        )
    )


def time_split(per_rank: Sequence[tuple[str, dict[str, float]]], title: str):
    """Decode time (summed over workers), engine time and engine idle time per rank."""
    import altair as alt

    rows = [
        {"rank": name, "part": part, "seconds": round(float(stats.get(f"{part}_s", 0.0)), 3)}
        for name, stats in per_rank
        for part in ("decode", "engine", "wait")
    ]
    if not rows:
        rows = [{"rank": "(no stats)", "part": "decode", "seconds": 0.0}]
    return (
        _chart(rows, title)
        .mark_bar()
        .encode(
            x=alt.X("rank:N", title=None),
            xOffset="part:N",
            y=alt.Y("seconds:Q", title="seconds"),
            color=alt.Color("part:N", title=None),
            tooltip=["rank:N", "part:N", "seconds:Q"],
        )
    )


def to_svg(chart: Any) -> str:
    import vl_convert as vlc

    return vlc.vegalite_to_svg(chart.to_json())
