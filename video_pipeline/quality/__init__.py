"""Caption quality checks: per-answer flags, exact counts, `quality.json` per task.

    scan = scan_task(task, task_source(output_jsonl, fingerprint), cfg.quality, "path")
    write_quality(path, scan, cfg.quality)

See `scan` for what each flag means and `QualityConfig` for the thresholds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from video_pipeline.config.schema import Config, QualityConfig
from video_pipeline.io.atomic import write_json
from video_pipeline.io.journal import output_stem
from video_pipeline.quality.scan import FLAGS, TaskScan, scan_task
from video_pipeline.quality.source import RecordSource, task_source

__all__ = [
    "FLAGS",
    "RecordSource",
    "TaskScan",
    "check_config",
    "flags_line",
    "quality_path",
    "scan_task",
    "task_source",
    "write_quality",
]


def quality_path(output_jsonl: str | Path) -> Path:
    return Path(f"{output_stem(output_jsonl)}.quality.json")


def write_quality(path: str | Path, scan: TaskScan, cfg: QualityConfig) -> dict[str, Any]:
    data = scan.quality(cfg)
    write_json(path, data)
    return data


def check_config(
    cfg: Config, name: str | None = None, prefer: str = "auto"
) -> tuple[TaskScan, dict[str, Any]]:
    """Scan a single-task config's records (task output `name`, default `run.task`) and
    write `<stem>.quality.json` beside them."""
    from video_pipeline.runner.state import recorded_fingerprint

    source = task_source(cfg.data.output_jsonl, recorded_fingerprint(cfg), prefer)
    scan = scan_task(name or cfg.run.task, source, cfg.quality, cfg.data.video_field)
    return scan, write_quality(quality_path(cfg.data.output_jsonl), scan, cfg.quality)


def flags_line(quality: dict[str, Any]) -> str:
    """`flags: empty=0 truncated=3 ...`, for end-of-run summaries."""
    flags = quality.get("flags", {})
    return "flags: " + " ".join(f"{f}={flags.get(f, 0)}" for f in FLAGS)
