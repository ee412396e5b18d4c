"""Watch a run from anywhere: per task and shard, done / total, errors, rate, ETA.

    python -m video_pipeline.cli.status --config my-run.yaml
    python -m video_pipeline.cli.status --config my-run.yaml --watch 30
    python -m video_pipeline.cli.status --config my-run.yaml --task describe --json

`--config` takes the workflow config given to Snakemake (layered over `config.yaml`)
or a `launch` config. It reads the run's files only, so it works while jobs run, on
the machine that runs them or on a SLURM login node that sees the same `outdir`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from video_pipeline.config import ConfigError
from video_pipeline.status import as_json, render, run_status
from video_pipeline.workflow.targets import load_run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m video_pipeline.cli.status",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    p.add_argument(
        "--config",
        required=True,
        nargs="+",
        help="the run's workflow config(s), layered over config.yaml as Snakemake's "
        "--configfile layers them, or its launch config",
    )
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--task", help="only this task")
    p.add_argument("--shard", help="only this shard (e.g. 00001 or 1)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument("--watch", type=float, metavar="S", help="print again every S seconds")
    p.add_argument(
        "--stall-after",
        type=float,
        default=600.0,
        metavar="S",
        help="a running job with no new record for S seconds is shown as stalled "
        "(default 600: an engine may take minutes to start)",
    )
    args = p.parse_args(argv)
    try:
        run = load_run(args.config, args.overrides, args.task, args.shard)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    while True:
        statuses = run_status(run, args.stall_after)
        if args.json:
            print(json.dumps(as_json(run, statuses)), flush=True)
        else:
            print(time.strftime("%H:%M:%S"), flush=True)
            print(render(run, statuses), flush=True)
        if not args.watch or all(s.state == "finished" for s in statuses):
            return 0
        try:
            time.sleep(args.watch)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
