"""Split a config's videos into clips, or roll a finished run's clips up per video.

    python -m video_pipeline.cli.clips expand --config my.yaml [--workers 8]
    python -m video_pipeline.cli.clips rollup --config my.yaml

`expand` writes the clip rows (`<output stem>.clips.jsonl`, one sample per clip) and a
probe report beside them, reused while the input and `clips` are unchanged. `rollup`
reads each task's merged output and errors and writes `<output stem>.videos.jsonl`, one
line per video. Exits 2 on a bad config or with `clips.mode: none`, 3 when the roll-up
still has pending clips.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from video_pipeline.cli.common import add_config_args, config_or_die, fail, setup_logging
from video_pipeline.io.journal import output_stem


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    expand = sub.add_parser("expand", help="write the clip rows of the config's input")
    add_config_args(expand)
    expand.add_argument("--workers", type=int, default=0, help="probing processes (0: inline)")
    rollup = sub.add_parser("rollup", help="write <output stem>.videos.jsonl per task")
    add_config_args(rollup)
    args = p.parse_args(argv)
    setup_logging()
    cfg = config_or_die(args)
    if not cfg.clips.enabled:
        fail("clips.mode is none: set clips.mode to fixed or shots")
    from video_pipeline.clips.prepare import ClipFiles, prepare_clip_rows

    if args.command == "expand":
        files, report = prepare_clip_rows(cfg, workers=args.workers)
        print(report.summary() if report else f"up to date: {files.rows}", file=sys.stderr)
        return 0
    from video_pipeline.clips.rollup import write_rollup
    from video_pipeline.config.loader import task_configs

    files = ClipFiles.of(cfg.data.output_jsonl)
    if not files.rows.is_file():
        fail(f"no clip rows at {files.rows}: run `expand` (and the run) first")
    pending = 0
    for one in task_configs(cfg):
        stem = output_stem(one.data.output_jsonl)
        records = [one.data.output_jsonl, f"{stem}.errors.jsonl"]
        if missing := [r for r in records if not Path(r).is_file()]:
            fail(f"no merged output {missing[0]}: merge the run first")
        report = write_rollup(records, f"{stem}.videos.jsonl", clip_rows=[files.rows])
        print(report.summary(), file=sys.stderr)
        pending += report.pending
    return 3 if pending else 0


if __name__ == "__main__":
    sys.exit(main())
