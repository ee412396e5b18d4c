"""A static report folder: `index.html`, its assets, data in pages, charts, thumbnails.

    out/index.html, assets/      the page (opens from disk: no server, no network)
    out/data/summary.js          per task: exact counts, quality, charts
    out/data/index.js            one compact entry per shown record (filters, search)
    out/data/chunk-NNNNN.js      the shown records in pages of CHUNK, loaded on demand
    out/data/videos-tN.js        a clip task's sample of videos (report/videos.py), on demand
    out/charts/*.svg             Vega-Lite charts rendered offline
    out/thumbs/                  frame strips, reused by the next report of this folder
    out/quality/<task>.json      quality.json of each task

The data files are scripts (`REPORT.chunk(n, [...])`): a page opened from disk may
load scripts but may not fetch() files. Counts are exact over every record; the page
shows every error up to `max_errors`, and a sample of `per_category` records (the
smallest key hashes, stable across reports) of each status, error kind and flag.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from video_pipeline.config.schema import Config
from video_pipeline.io.atomic import atomic_write
from video_pipeline.io.record import Record
from video_pipeline.quality import FLAGS, RecordSource, scan_task, write_quality
from video_pipeline.quality.scan import BIT, TaskScan
from video_pipeline.report import charts
from video_pipeline.report.thumbs import Thumbnailer
from video_pipeline.report.videos import videos_section

log = logging.getLogger("video_pipeline")

ASSETS = Path(__file__).with_name("assets")
MARKER = ".video-pipeline-report"  # a folder holding it may be rewritten
CHUNK = 100  # records per data page
MAX_TEXT = 20000  # characters of an answer, message or raw row kept per record


class ReportError(RuntimeError):
    """The report cannot be written where asked."""


@dataclass
class TaskInput:
    """One task of a report: its output name, config, records and rank stats."""

    name: str
    cfg: Config
    source: RecordSource
    rank_stats: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # a clip task: its per-video roll-up and the records of its summary pass, if any
    videos: str | None = None
    summaries: RecordSource | None = None
    frames: bool = True  # thumbnails (off for a text-only pass such as the summaries)


def build_report(
    tasks: list[TaskInput],
    out: str | Path,
    max_errors: int = 5000,
    per_category: int = 100,
    thumb_size: int = 160,
    title: str = "video-pipeline report",
) -> dict[str, Any]:
    """Write the report of `tasks` into `out`; returns the summary the page shows."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ReportError(f"{out} exists and is not a report folder; choose a new or empty one")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by python -m video_pipeline.cli.report\n")
    for sub in ("data", "charts", "quality"):
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub).mkdir(parents=True)
    pages = _Pages(out / "data")
    summary: dict[str, Any] = {
        "title": title,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "flags": list(FLAGS),
        "caps": {"max_errors": max_errors, "per_category": per_category},
        "chunk": CHUNK,
        "tasks": [],
    }
    for t, task in enumerate(tasks):
        t0 = time.perf_counter()
        scan = scan_task(task.name, task.source, task.cfg.quality, task.cfg.data.video_field)
        quality = write_quality(out / "quality" / f"{task.name}.json", scan, task.cfg.quality)
        shown = select(scan, max_errors, per_category)
        records = [_read(scan, int(i)) for i in shown]  # bounded: the shown records only
        keys = {r.key for r in records}
        thumbs = Thumbnailer(task.cfg, out, thumb_size, task.source, keys) if task.frames else None
        for i, rec in zip(shown, records, strict=True):
            pages.add(t, _row(scan, int(i), rec, thumbs))
        summary["tasks"].append(
            {
                "name": task.name,
                "task": task.cfg.run.task,
                "quality": quality,
                "shown": len(shown),
                "charts": _charts(out, t, task, scan, quality),
                "videos": _videos(out, t, task),
            }
        )
        log.info(
            "report: task %s, %d records, %d shown (%.1f s)",
            task.name,
            len(scan),
            len(shown),
            time.perf_counter() - t0,
        )
    pages.close()
    summary["rows"] = pages.n
    summary["kinds"] = pages.kinds
    _script(out / "data" / "summary.js", "REPORT.summary = ", summary)
    _script(out / "data" / "index.js", "REPORT.index = ", pages.index)
    shutil.copytree(ASSETS, out / "assets", dirs_exist_ok=True)
    shutil.move(out / "assets" / "index.html", out / "index.html")
    return summary


def select(scan: TaskScan, max_errors: int, per_category: int) -> np.ndarray:
    """Indices of the records shown: errors up to the cap, and a key-hash sample (the
    same on every report) of each status, error kind and flag."""
    errors = np.flatnonzero(~scan.ok)
    picks = [errors[:max_errors]]
    masks = [scan.ok & (scan.flags == 0)]
    masks += [scan.kind == k for k in range(len(scan.kinds))]
    masks += [(scan.flags & BIT[f]) > 0 for f in FLAGS]
    for mask in masks:
        idx = np.flatnonzero(mask)
        if len(idx) > per_category:
            idx = idx[np.argpartition(scan.key_hash[idx], per_category)[:per_category]]
        picks.append(idx)
    return np.unique(np.concatenate(picks))


def _row(scan: TaskScan, i: int, rec: Record, thumbs: Thumbnailer | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "key": rec.key,
        "status": "ok" if rec.ok else "error",
        "flags": scan.flag_names(i),
        "tokens": rec.tokens.to_dict() if rec.tokens is not None else None,
        "finish_reason": rec.finish_reason,
        "decode_s": rec.decode_s,
        "engine_s": rec.engine_s,
        "rank": rec.rank,
        "raw": _cut(json.dumps(rec.raw, ensure_ascii=False, default=str)),
        "clip": _clip(rec),
        "frames": thumbs.strip(rec) if thumbs is not None else None,
    }
    if rec.video_key is not None:
        row["video_key"] = rec.video_key
    if rec.ok:
        result = rec.result
        if isinstance(result, dict) and len(result) == 1 and isinstance(_only(result), str):
            row["answer"] = {"text": _cut(_only(result))}
        elif isinstance(result, dict):
            row["answer"] = {"fields": [[k, _cut(_value(v))] for k, v in result.items()]}
        else:
            row["answer"] = {"text": _cut(_value(result))}
    else:
        err = rec.error
        row["error"] = {
            "kind": rec.error_kind,
            "message": _cut(err.message if err is not None else ""),
            "transient": rec.transient,
        }
        if isinstance(rec.text, str):
            row["text"] = _cut(rec.text)
    j = int(scan.partner[i])
    if j >= 0:
        other = _read(scan, j)
        row["copy_of"] = {"key": other.key, "similarity": scan.similarity.get(i, 1.0)}
    return row


def _read(scan: TaskScan, i: int) -> Record:
    """Record `i` of the scan, read again from its place on disk."""
    return scan.source.read(int(scan.file_index[i]), int(scan.offset[i]))


def _only(d: dict[str, Any]) -> Any:
    return next(iter(d.values()))


def _value(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return "; ".join(v)
    return json.dumps(v, ensure_ascii=False, default=str)


def _cut(s: str) -> str:
    return s if len(s) <= MAX_TEXT else s[:MAX_TEXT] + f"… ({len(s) - MAX_TEXT} more characters)"


def _clip(rec: Record) -> dict[str, Any] | None:
    """Clip bounds: the record's `clip`, else the row's `video_start` / `video_end`."""
    if rec.clip is not None:
        return {k: rec.clip.get(k) for k in ("index", "start", "end")}
    raw = rec.raw
    if isinstance(raw, dict) and (
        raw.get("video_start") is not None or raw.get("video_end") is not None
    ):
        return {"index": None, "start": raw.get("video_start"), "end": raw.get("video_end")}
    return None


def _videos(out: Path, t: int, task: TaskInput) -> dict[str, Any] | None:
    """A clip task's roll-up: counts in the summary, its sample of videos in a data file
    the page loads when asked."""
    if task.videos is None or not Path(task.videos).is_file():
        return None
    section = videos_section(task.videos, task.summaries)
    name = f"videos-t{t}.js"
    _script(out / "data" / name, f"REPORT.videoSample({t}, ", section.pop("shown"), ");")
    return {**section, "src": f"data/{name}"}


def _charts(out: Path, t: int, task: TaskInput, scan: TaskScan, q: dict) -> list[dict]:
    status = {"ok": q["ok"], **q["errors_by_kind"]}
    colors = {k: ("#54a24b" if k == "ok" else "#e45756") for k in status}
    specs = [
        ("status", charts.counts(status, "records by status and error kind", "status", colors)),
        ("flags", charts.counts(q["flags"], "quality flags", "flag")),
        ("finish", charts.counts(q["finish_reasons"], "finish reasons", "reason")),
        ("prompt", charts.histogram(scan.prompt_tokens, "prompt tokens", "tokens")),
        ("generated", charts.histogram(scan.generated_tokens, "generated tokens", "tokens")),
        (
            "rate",
            charts.rates_over_time(
                [(n, s.get("timeline") or []) for n, s in task.rank_stats], "videos/s per rank"
            ),
        ),
        ("time", charts.time_split(task.rank_stats, "decode vs engine time per rank")),
    ]
    made = []
    for name, chart in specs:
        path = out / "charts" / f"t{t}-{name}.svg"
        atomic_write(path, charts.to_svg(chart), durable=False)
        made.append({"src": f"charts/{path.name}", "title": chart.title})
    return made


class _Pages:
    """Shown records, written as script pages of CHUNK rows plus a compact index."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.index: list[list[Any]] = []
        self.kinds: list[str] = []
        self._rows: list[dict[str, Any]] = []
        self.n = 0

    def add(self, task: int, row: dict[str, Any]) -> None:
        kind = row.get("error", {}).get("kind")
        if kind is not None and kind not in self.kinds:
            self.kinds.append(kind)
        bits = sum(BIT[f] for f in row["flags"])
        k = -1 if kind is None else self.kinds.index(kind)
        self.index.append([task, int(row["status"] == "error"), k, bits, row["key"]])
        row["task"] = task
        self._rows.append(row)
        self.n += 1
        if len(self._rows) == CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            n = (self.n - 1) // CHUNK
            _script(self.folder / f"chunk-{n:05d}.js", f"REPORT.chunk({n}, ", self._rows, ");")
            self._rows = []

    def close(self) -> None:
        self._flush()


def _script(path: Path, prefix: str, data: Any, suffix: str = ";") -> None:
    """A script that hands `data` to the page. ASCII-only JSON with `<` escaped is
    valid JavaScript and can never close a script element, whatever the strings hold."""
    text = json.dumps(data, ensure_ascii=True, default=str).replace("<", "\\u003c")
    # the next report run rewrites every page: no fsyncs for its many small files
    atomic_write(path, f"{prefix}{text}{suffix}\n", durable=False)
