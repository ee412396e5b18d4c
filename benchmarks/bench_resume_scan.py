"""(d) Resume scan: seconds to load the done keys of N journal rows (goal: 1M in under 2 s).

Candidate: `video_pipeline.io.journal.scan_done`, which parses only the leading
`__key`/`status`/`fingerprint` fields of each line. Baseline: the seed's way, a full
`json.loads` of every record to collect `__key`. Both read the same journals (4 ranks,
real records of about 1 KB, 1% errors), written once and reused.

    python benchmarks/bench_resume_scan.py [--size 1000000] [--smoke]
"""

from __future__ import annotations

import json
from pathlib import Path

import benchlib


def seed_scan(paths: list[Path]) -> set[str]:
    keys: set[str] = set()
    for path in paths:
        with open(path, "rb") as f:
            for line in f:
                if line.endswith(b"\n"):
                    keys.add(json.loads(line)["__key"])
    return keys


def main(argv: list[str] | None = None) -> int:
    p = benchlib.parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=1_000_000, help="journal rows")
    args = p.parse_args(argv)
    size = 2000 if args.smoke else args.size
    repeat = 1 if args.smoke else args.repeat

    from video_pipeline.fingerprint import fingerprint
    from video_pipeline.io.journal import journal_paths, scan_done

    cfg = benchlib.journal_fixture(args.work, size)
    paths = journal_paths(cfg.data.output_jsonl)
    fp = fingerprint(cfg)
    nbytes = sum(p.stat().st_size for p in paths)

    done = scan_done(paths, fp)  # also warms the page cache for both contenders
    if len(done) != size:
        raise SystemExit(f"scan_done found {len(done)} keys, expected {size}")
    seed = benchlib.best_of_cpu(lambda: seed_scan(paths), repeat)
    cand = benchlib.best_of_cpu(lambda: scan_done(paths, fp), repeat)
    result = {
        "rows": size,
        "journal_bytes": nbytes,
        "baseline": {"name": "json.loads every line (seed)", **seed},
        "candidate": {"name": "scan_done (leading fields only)", **cand},
        "speedup": benchlib.ratio(seed["best_s"], cand["best_s"]),
        "speedup_cpu": benchlib.ratio(seed["best_cpu_s"], cand["best_cpu_s"]),
        "candidate_rows_per_s": round(size / cand["best_s"]),
        "goal": "1M rows under 2 s",
        "goal_met": size < 1_000_000 or cand["best_s"] * 1_000_000 / size < 2.0,
    }
    line = (
        f"{size} rows ({nbytes / 2**20:.0f} MiB): scan_done {cand['best_s']:.2f} s "
        f"(cpu {cand['best_cpu_s']:.2f} s), full json.loads {seed['best_s']:.2f} s "
        f"(cpu {seed['best_cpu_s']:.2f} s), speedup x{result['speedup']}"
    )
    benchlib.save("resume_scan", result, args.out, line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
