"""Check a finished or partial run of a config against its input.

    python -m video_pipeline.cli.verify --config configs/describe.yaml [--complete] [--json]
    python -m video_pipeline.cli.verify --config my-run.yaml [--task describe] [--shard 1]

Prints done / failed / pending counts and every violation found: a key with two
results, a record whose key is not in the input, a corrupt journal line, records of
another fingerprint, a merged output that repeats or invents keys. Exits 1 on a
violation (with --complete, pending keys count as one), else 0. With `clips` on it checks
the clips (each clip key once) and each summary pass. Given the workflow config passed to
Snakemake, it checks each job (task and shard): its journals and its finished part.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from video_pipeline.cli.common import (
    add_run_args,
    fail,
    named_configs_or_die,
    run_configs_or_die,
)
from video_pipeline.io.jsonl import dumps_text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_run_args(p)
    p.add_argument("--shard", help="only this shard of a workflow run (e.g. 00001 or 1)")
    p.add_argument("--complete", action="store_true", help="pending keys are a violation")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    args = p.parse_args(argv)
    from video_pipeline.verify import verify_run

    reports = _workflow_reports(args) if _is_workflow(args.config) else None
    if reports is None:
        if args.shard is not None:
            fail("--shard: a launch config has no shards")
        cfgs = run_configs_or_die(args)
        if args.task is not None:  # the task's outputs (run_configs keeps them)
            outputs = {c.data.output_jsonl for _, c in named_configs_or_die(args)}
            cfgs = [c for c in cfgs if c.data.output_jsonl in outputs]
        if any(c.clips.summary for c in cfgs):
            from video_pipeline.clips.summary import summary_configs

            cfgs += summary_configs(cfgs)
        reports = [verify_run(cfg, require_complete=args.complete) for cfg in cfgs]
    if args.json:
        out = [asdict(r) for r in reports]
        print(dumps_text(out[0] if len(out) == 1 else out, indent=2))
    else:
        print("\n".join(r.summary() for r in reports))
    return 1 if any(r.violations for r in reports) else 0


def _is_workflow(path: str) -> bool:
    from video_pipeline.config import ConfigError
    from video_pipeline.workflow.targets import is_workflow_config, read_yaml

    try:
        return is_workflow_config(read_yaml(path))
    except ConfigError as e:
        fail(str(e))
        raise  # unreachable


def _workflow_reports(args):
    """One report per job: its journals, and its part vouched for by the part's stats."""
    from video_pipeline.config import ConfigError
    from video_pipeline.verify import verify_run
    from video_pipeline.workflow.targets import load_run

    try:
        run = load_run(args.config, args.overrides, args.task, args.shard)
    except ConfigError as e:
        fail(str(e))
        raise  # unreachable
    return [
        verify_run(
            u.config,
            require_complete=args.complete,
            merged=Path(u.output),
            manifest=Path(u.output.removesuffix(".jsonl") + ".stats.json"),
        )
        for u in run.units
    ]


if __name__ == "__main__":
    sys.exit(main())
