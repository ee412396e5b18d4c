"""Export a config's results as Parquet, one row per result (errors optionally apart).

    python -m video_pipeline.cli.export --config X --format parquet --out results.parquet
    python -m video_pipeline.cli.export --config X --format parquet \\
        --out out/{task}.parquet --errors out/{task}.errors.parquet --rows-per-file 100000

With several tasks, `--out` (and `--errors`) must contain `{task}`. `--rows-per-file N`
writes `<stem>-00000-of-0000K.parquet` files of N rows. The files load with
`datasets.load_dataset("parquet", data_files=...)`, pandas or any Parquet reader.
Reads the merged output when it exists, else the rank journals.
"""

from __future__ import annotations

import argparse
import sys

from video_pipeline.cli.common import add_run_args, fail, named_configs_or_die, setup_logging
from video_pipeline.config.schema import TASK_PLACEHOLDER


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_run_args(p)
    p.add_argument("--format", required=True, choices=["parquet"], help="output format")
    p.add_argument("--out", required=True, help="results file (.parquet); {task} per task")
    p.add_argument("--errors", help="also write the error records here (.parquet)")
    p.add_argument("--rows-per-file", type=int, help="split outputs into files of N rows")
    args = p.parse_args(argv)
    if args.rows_per_file is not None and args.rows_per_file < 1:
        fail(f"--rows-per-file must be >= 1, got {args.rows_per_file}")
    for name in ("out", "errors"):
        path = getattr(args, name)
        if path and not path.endswith(".parquet"):
            fail(f"--{name} must end with .parquet, got {path!r}")
    named = named_configs_or_die(args)
    from video_pipeline.export import export_parquet
    from video_pipeline.quality import task_source
    from video_pipeline.runner.state import recorded_fingerprint

    names = [name for name, _ in named]
    if len(names) > 1:
        for name in ("out", "errors"):
            path = getattr(args, name)
            if path and TASK_PLACEHOLDER not in path:
                fail(
                    f"--{name} must contain {TASK_PLACEHOLDER}: the config lists {len(names)} tasks"
                )
    outputs = set()
    for name, one in named:
        source = task_source(one.data.output_jsonl, recorded_fingerprint(one))
        if not source.files:
            fail(f"task {name}: no records at {one.data.output_jsonl} nor in its rank journals")
        out = args.out.replace(TASK_PLACEHOLDER, name)
        errors = args.errors.replace(TASK_PLACEHOLDER, name) if args.errors else None
        if out in outputs or errors == out:
            fail(f"two outputs would be written to {out}")
        outputs.add(out)
        report = export_parquet(source, out, errors, args.rows_per_file)
        print(f"[{name}] {report.summary()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
