"""Check a finished or partial run of a config against its input.

    python -m video_pipeline.cli.verify --config configs/describe.yaml [--complete] [--json]

Prints done / failed / pending counts and every violation found: a key with two
results, a record whose key is not in the input, a corrupt journal line, records of
another fingerprint, a merged output that repeats or invents keys. Exits 1 on a
violation (with --complete, pending keys count as one), else 0. With `clips` on it checks
the clips (each clip key once) and each summary pass.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from video_pipeline.cli.common import add_config_args, run_configs_or_die
from video_pipeline.io.jsonl import dumps_text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_args(p)
    p.add_argument("--complete", action="store_true", help="pending keys are a violation")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    args = p.parse_args(argv)
    from video_pipeline.verify import verify_run

    cfgs = run_configs_or_die(args)
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


if __name__ == "__main__":
    sys.exit(main())
