"""(10) Typed record reading: the cost of `Record.from_dict` for readers of every record.

Readers that go over every record of a run (quality scan, report, export) read each
line's key, status, error kind, tokens, result and finish reason. Candidate: parse the
line, make it a `Record` and read its attributes. Baseline: parse the line and read the
same fields from the dict. Both read the same journals (4 ranks, real records of about
1 KB, 1% errors, written by the runner's JournalWriter), written once and reused.

    python benchmarks/bench_record_read.py [--size 200000] [--smoke]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import benchlib


def _lines(paths: list[Path]) -> list[bytes]:
    out: list[bytes] = []
    for path in paths:
        with open(path, "rb") as f:
            out.extend(f)
    return out


def dict_read(lines: list[bytes]) -> int:
    n = 0
    for line in lines:
        rec: dict[str, Any] = json.loads(line)
        key, ok = rec["__key"], rec.get("status") == "ok"
        err = rec.get("error")
        kind = err.get("kind") if isinstance(err, dict) else None
        tokens = rec.get("tokens") or {}
        n += len(key) + ok + (kind is not None) + (tokens.get("generated") or 0)
        n += isinstance(rec.get("result"), dict) + (rec.get("finish_reason") == "length")
    return n


def record_read(lines: list[bytes]) -> int:
    from video_pipeline.io.record import Record

    n = 0
    for line in lines:
        rec = Record.from_dict(json.loads(line))
        kind = rec.error_kind
        n += len(rec.key) + rec.ok + (kind is not None)
        n += rec.tokens.generated if rec.tokens is not None else 0
        n += isinstance(rec.result, dict) + (rec.finish_reason == "length")
    return n


def parse_only(lines: list[bytes]) -> int:
    return sum(len(json.loads(line)) for line in lines)


def main(argv: list[str] | None = None) -> int:
    p = benchlib.parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=200_000, help="journal rows")
    args = p.parse_args(argv)
    size = 2000 if args.smoke else args.size
    repeat = 1 if args.smoke else args.repeat

    from video_pipeline.io.journal import journal_paths

    cfg = benchlib.journal_fixture(args.work, size)
    lines = _lines(journal_paths(cfg.data.output_jsonl))
    if dict_read(lines) != record_read(lines):
        raise SystemExit("the two readers disagree")
    parse = benchlib.best_of_cpu(lambda: parse_only(lines), repeat)
    base = benchlib.best_of_cpu(lambda: dict_read(lines), repeat)
    cand = benchlib.best_of_cpu(lambda: record_read(lines), repeat)
    from_dict_us = (cand["best_cpu_s"] - base["best_cpu_s"]) / size * 1e6
    result = {
        "rows": size,
        "json_loads_only": {"name": "json.loads of each line", **parse},
        "baseline": {"name": "json.loads + dict lookups", **base},
        "candidate": {"name": "json.loads + Record.from_dict + attributes", **cand},
        "ratio_cpu": benchlib.ratio(cand["best_cpu_s"], base["best_cpu_s"]),
        "from_dict_us_per_record": round(from_dict_us, 2),
    }
    line = (
        f"{size} records: dict {base['best_cpu_s']:.2f} s cpu, Record "
        f"{cand['best_cpu_s']:.2f} s cpu (x{result['ratio_cpu']}; json.loads alone "
        f"{parse['best_cpu_s']:.2f} s), from_dict +{from_dict_us:.2f} us a record"
    )
    benchlib.save("record_read", result, args.out, line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
