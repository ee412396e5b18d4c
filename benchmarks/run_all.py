"""Run every benchmark script in turn (what `make bench` runs).

    python benchmarks/run_all.py                 # full sizes: the numbers of BENCHMARKS.md
    python benchmarks/run_all.py --smoke         # tiny sizes: checks that each one runs
    python benchmarks/run_all.py --only bench_resume_scan bench_shard_merge

Each script measures its own baseline and writes its JSON to `benchmarks/results/`;
this only runs them one after another (never in parallel: they time themselves), shares
one `--work` folder so the tiny model and videos are built once, and ends with a table.
Exit status 1 if any script failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def scripts() -> list[str]:
    return sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat each")
    p.add_argument("--work", type=Path, help="scratch folder shared by the scripts")
    p.add_argument("--only", nargs="+", metavar="NAME", help="these scripts only (bench_x)")
    args = p.parse_args(argv)

    names = scripts()
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            p.error(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(names)}")
        names = [n for n in names if n in args.only]
    common = ["--smoke"] if args.smoke else []
    if args.work:
        common += ["--work", str(args.work)]

    rows = []
    for name in names:
        print(f"== {name}", flush=True)
        start = time.monotonic()
        proc = subprocess.run([sys.executable, str(BENCH_DIR / f"{name}.py"), *common])
        rows.append((name, proc.returncode, time.monotonic() - start))

    print(f"\n{'benchmark':<28} {'exit':>4} {'seconds':>8}")
    for name, rc, seconds in rows:
        print(f"{name:<28} {rc:>4} {seconds:>8.1f}")
    return 1 if any(rc for _, rc, _ in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
