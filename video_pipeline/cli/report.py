"""Write a static report of a config's results: open DIR/index.html in a browser.

    python -m video_pipeline.cli.report --config configs/describe.yaml --out report/

For every task of the config: the frames the model was given beside its answers, the
errors, the quality flags and the run's stats as charts. Reads the merged output when
it exists, else the rank journals (a run in progress, or not merged yet). The folder
opens from disk (no server, no network); thumbnails are reused by the next report
written to the same folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from video_pipeline.cli.common import add_run_args, fail, named_configs_or_die, setup_logging

if TYPE_CHECKING:
    from video_pipeline.config import Config
    from video_pipeline.quality import RecordSource
    from video_pipeline.report.build import TaskInput

log = logging.getLogger("video_pipeline")


def add_report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="folder to write (index.html and its files)")
    p.add_argument(
        "--max-errors", type=int, default=5000, help="errors shown at most (default 5000)"
    )
    p.add_argument(
        "--per-category",
        type=int,
        default=100,
        help="records shown per status, error kind and quality flag (default 100)",
    )
    p.add_argument(
        "--thumb-size", type=int, default=160, help="thumbnail size in px, its longer side"
    )


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_run_args(p)
    add_report_args(p)
    args = p.parse_args(argv)
    for name in ("max_errors", "per_category", "thumb_size"):
        if getattr(args, name) < 1:
            fail(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    named = named_configs_or_die(args)
    from video_pipeline.io.journal import output_stem
    from video_pipeline.quality import task_source
    from video_pipeline.report.build import ReportError, build_report
    from video_pipeline.runner.state import recorded_fingerprint

    tasks = []
    for name, one in named:
        source = task_source(one.data.output_jsonl, recorded_fingerprint(one))
        if not source.files:
            fail(
                f"task {name}: no records: neither {one.data.output_jsonl} nor rank journals "
                f"{output_stem(one.data.output_jsonl)}.rank*.jsonl exist; run launch first"
            )
        tasks += clip_task_inputs(name, one, source)
    try:
        build_report(
            tasks,
            args.out,
            max_errors=args.max_errors,
            per_category=args.per_category,
            thumb_size=args.thumb_size,
            title=f"video-pipeline report: {Path(args.config).name}",
        )
    except ReportError as e:
        fail(str(e))
    index = Path(args.out).resolve() / "index.html"
    print(f"report: {index}  (open file://{index})", file=sys.stderr)
    return 0


def clip_task_inputs(name: str, cfg: Config, source: RecordSource) -> list[TaskInput]:
    """The task's report input; a clip task's has its roll-up and summary records, and
    its summary pass (when it ran) is a task of the report too, without thumbnails."""
    from video_pipeline.io.journal import output_stem
    from video_pipeline.quality import task_source
    from video_pipeline.report.build import TaskInput
    from video_pipeline.runner.state import recorded_fingerprint

    task = TaskInput(name, cfg, source, launch_rank_stats(cfg.data.output_jsonl))
    if not cfg.clips.enabled:
        return [task]  # and the clips package (it imports PyAV) stays unimported
    from video_pipeline.clips.summary import summary_config, summary_input

    task.videos = f"{output_stem(cfg.data.output_jsonl)}.videos.jsonl"
    if not cfg.clips.summary:
        return [task]
    # launch's summaries, or a workflow's results/{task}.summary.jsonl
    summary = summary_config(cfg, summary_input(cfg))
    found = task_source(summary.data.output_jsonl, recorded_fingerprint(summary))
    if not found.files:
        return [task]
    task.summaries = found
    stats = launch_rank_stats(summary.data.output_jsonl)
    return [task, TaskInput(f"{name}.summary", summary, found, stats, frames=False)]


def launch_rank_stats(output_jsonl: str) -> list[tuple[str, dict]]:
    """The rank stats `launch` left beside the journals: ("rank r", stats) each."""
    from video_pipeline.io.journal import journal_paths, journal_rank, stats_path

    out = []
    for journal in journal_paths(output_jsonl):
        path = stats_path(output_jsonl, journal_rank(journal))
        if path.exists():
            stats = json.loads(path.read_text())
            out.append((f"rank {stats.get('rank', '?')}", stats))
    return out


if __name__ == "__main__":
    sys.exit(main())
