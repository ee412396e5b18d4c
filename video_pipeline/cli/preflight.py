"""Probe every input video as a run would, without loading the model.

    python -m video_pipeline.cli.preflight --config configs/describe.yaml --tokens-per-s 20000

Reports the rows that will fail (and why), the videos over vllm.max_model_len, the total
prompt tokens and, given a prompt-token rate per GPU, the GPU-hours they imply. Exits 0,
or 1 with --strict when some row will fail or exceed the budget.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from video_pipeline.cli.common import add_config_args, fail, run_configs_or_die, setup_logging
from video_pipeline.config import ConfigError


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    logging.getLogger("qwen_vl_utils").setLevel(logging.WARNING)  # a line per video
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_args(p)
    p.add_argument("--tokens-per-s", type=float, help="prompt tokens per second per GPU")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--probes", type=Path, help="also write one JSON line per video here")
    p.add_argument("--strict", action="store_true", help="exit 1 if any row fails or is too long")
    args = p.parse_args(argv)
    if args.tokens_per_s is not None and args.tokens_per_s <= 0:
        fail(f"--tokens-per-s must be > 0, got {args.tokens_per_s}")
    cfgs = run_configs_or_die(args, expand=True)  # with clips on: one probe per clip
    if args.probes and len(cfgs) > 1:
        fail("--probes names one file; the config lists several tasks")
    from video_pipeline.preflight import run_preflight

    bad = False
    for cfg in cfgs:  # prompts, and so token counts, differ by task
        try:
            report = run_preflight(cfg, args.tokens_per_s, args.probes)
        except ConfigError as e:  # an unsupported model, a vision budget it cannot meet
            fail(str(e))
        print(report.to_json() if args.json else report.summary())
        bad = bad or bool(report.failed or report.over_budget)
    return 1 if args.strict and bad else 0


if __name__ == "__main__":
    sys.exit(main())
