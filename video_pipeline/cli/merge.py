"""Merge the rank outputs of a config into `data.output_jsonl` (+ `.errors.jsonl`).

    python -m video_pipeline.cli.merge --config configs/describe.yaml

With `clips` on it merges the clips, writes the per-video roll-up (`<stem>.videos.jsonl`)
and, with `clips.summary`, merges each summary pass. Exits 3 when some input keys have
no record yet (rerun `launch` to finish them), 4 when another process is writing the
same output.
"""

from __future__ import annotations

import argparse
import sys

from video_pipeline.cli.common import add_config_args, fail, run_configs_or_die


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_args(p)
    p.add_argument("--output", help="write here instead of data.output_jsonl")
    p.add_argument("--allow-partial", action="store_true", help="exit 0 even if keys are pending")
    args = p.parse_args(argv)
    cfgs = run_configs_or_die(args)
    if args.output and len(cfgs) > 1:
        fail("--output names one file; the config lists several tasks, each with its own")
    from video_pipeline.clips.summary import summary_configs
    from video_pipeline.merge import merge_outputs

    if not args.output:  # clips.summary: each task's summary pass is merged too
        cfgs += summary_configs(cfgs)
    from video_pipeline.runner.lock import LockHeld, OutputLock

    complete = True
    for cfg in cfgs:
        try:
            with OutputLock(cfg.data.output_jsonl):
                report = merge_outputs(cfg, args.output)
        except LockHeld as e:
            fail(str(e), code=4)
        print(report.summary(), file=sys.stderr)
        complete = complete and report.complete
    return 0 if complete or args.allow_partial else 3


if __name__ == "__main__":
    sys.exit(main())
