"""Run many Snakemake command lines in one process (the import and the first parse of the
Snakefile cost seconds; each further dry run a fraction of one).

    python tests/snakemake_batch.py WORKDIR < commands.json > results.json

Each command is {"argv": [...], "mode": "dry" | "parse"}. "dry" runs it through
Snakemake's own command line entry (profiles included) with `-n`, the repository's
Snakefile and WORKDIR appended; "parse" only parses it, and checks that what
`--configfile` and `--config` took are config files and key=value pairs (a target
written after them is swallowed). Each result: {"ok": bool, "log": its output's tail}.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


def parse_only(argv: list[str]) -> tuple[bool, str]:
    from snakemake.cli import get_argument_parser

    args = get_argument_parser().parse_args(argv)
    bad = [f for f in args.configfile or [] if not str(f).endswith(CONFIG_SUFFIXES)]
    bad += [c for c in args.config or [] if "=" not in c]
    if bad:
        return False, f"taken as config files or values, not targets: {bad}"
    return True, f"targets: {args.targets}"


def dry_run(argv: list[str], workdir: str) -> bool:
    from snakemake import cli

    full = [*argv, "-n", "--snakefile", str(REPO / "Snakefile"), "--directory", workdir]
    parser, args = cli.parse_args(full)
    return bool(cli.args_to_api(args, parser))


def run_one(cmd: dict, workdir: str) -> dict:
    """Runs with stdout and stderr (file descriptors 1 and 2) sent to a file."""
    with tempfile.TemporaryFile(mode="w+") as log:
        saved = os.dup(1), os.dup(2)
        sys.stdout.flush(), sys.stderr.flush()
        os.dup2(log.fileno(), 1), os.dup2(log.fileno(), 2)
        try:
            if cmd["mode"] == "parse":
                ok, note = parse_only(cmd["argv"])
                print(note)
            else:
                ok = dry_run(cmd["argv"], workdir)
        except BaseException as e:  # argparse exits; Snakemake raises its own errors
            ok = False
            print(f"{type(e).__name__}: {e}")
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])
        log.seek(0)
        return {"ok": ok, "log": log.read()[-6000:]}


def main() -> None:
    workdir = sys.argv[1]
    os.chdir(workdir)
    commands = json.load(sys.stdin)
    results = [run_one(c, workdir) for c in commands]
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    main()
