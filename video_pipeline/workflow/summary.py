"""The run's summary: one line per task, written as TSV and printed at the end of a run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from video_pipeline.io.atomic import atomic_write

COLUMNS = (
    "task",
    "done",
    "failed",
    "videos/s",
    "gen_tok/s",
    "prompt_tok/s",
    "job_s",
    "errors",
    "flags",
)


def summary_rows(task_stats: Sequence[str | Path]) -> list[list[str]]:
    rows = []
    for path in task_stats:
        s = json.loads(Path(path).read_text())
        kinds = ",".join(f"{k}={v}" for k, v in sorted(s["errors_by_kind"].items())) or "-"
        rows.append(
            [
                s["task"],
                str(s["ok"]),
                str(s["failed"]),
                f"{s['videos_per_s']:.2f}",
                f"{s['generated_tokens_per_s']:.1f}",
                f"{s['prompt_tokens_per_s']:.1f}",
                f"{s['job_s']:.1f}",
                kinds,
                _flags(Path(str(path).replace(".stats.json", ".quality.json"))),
            ]
        )
    return rows


def _flags(quality_json: Path) -> str:
    """Quality flags raised (`truncated=3,near_duplicate=1`) from the task's quality.json."""
    if not quality_json.exists():
        return "?"
    flags = json.loads(quality_json.read_text()).get("flags", {})
    return ",".join(f"{k}={v}" for k, v in flags.items() if v) or "-"


def write_summary(task_stats: Sequence[str | Path], output: str | Path) -> str:
    rows = summary_rows(task_stats)
    text = "\n".join("\t".join(r) for r in [list(COLUMNS), *rows]) + "\n"
    atomic_write(output, text)
    return text


def format_table(rows: list[list[str]]) -> str:
    """Rows (header first) as an aligned table, for the terminal."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(["per-task summary (videos/s and tok/s per job):", *lines])


def print_summary(task_stats: Sequence[str | Path]) -> None:
    """Print the table of the tasks' current results (called when a run succeeds).

    Read from the tasks' stats files rather than summary.tsv, so that a run of one
    task only still prints up-to-date numbers.
    """
    found = [p for p in task_stats if Path(p).exists()]
    if found:
        print(format_table([list(COLUMNS), *summary_rows(found)]), flush=True)
