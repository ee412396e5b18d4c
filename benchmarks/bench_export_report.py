"""(9) Export and report at scale: peak memory and speed for a small and a large run.

Synthetic records (a result of three fields and a passthrough row each, 5% errors)
are written once per size; each measurement runs in a fresh subprocess that imports
what the command imports, then either exports them to Parquet (errors too, 100k rows
per file) or builds the report (quality scan, selection, pages, charts; records have
no video, so nothing is decoded). Peak RSS comes from `getrusage`. Goals: the export's
peak RSS above its imports flat in the number of rows (large / small near 1), and the
report's growth per record a few dozen bytes (its per-record numpy arrays).

    python benchmarks/bench_export_report.py [--sizes 20000 400000] [--smoke]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import benchlib


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_records(path: Path, n: int) -> Path:
    if path.exists():
        return path
    with path.open("w") as f:
        for i in range(n):
            rec = benchlib.synthetic_record(i)
            f.write(json.dumps(rec) + "\n")
    return path


def child(mode: str, records: Path, out: Path) -> dict[str, Any]:
    import pandas  # noqa: F401 (imports come before the baseline; pyarrow uses pandas)
    import pyarrow.parquet  # noqa: F401

    from video_pipeline.quality import RecordSource

    source = RecordSource((str(records),))
    if mode == "export":
        from video_pipeline.export import export_parquet

        base = peak_mib()
        t0 = time.perf_counter()
        export_parquet(source, str(out / "r.parquet"), str(out / "e.parquet"), 100_000)
    else:
        from video_pipeline.config import load_config
        from video_pipeline.report.build import TaskInput, build_report

        cfg = load_config(
            data={
                "data": {"input_jsonl": str(records), "output_jsonl": str(out / "o.jsonl")},
                "vllm": {"model": "none"},
                "run": {"task": "structured_caption"},
            }
        )
        import altair  # noqa: F401
        import vl_convert  # noqa: F401

        import video_pipeline.report.thumbs  # noqa: F401

        base = peak_mib()
        t0 = time.perf_counter()
        build_report([TaskInput("caption", cfg, source)], out / "report")
    return {"seconds": time.perf_counter() - t0, "base_mib": base, "peak_mib": peak_mib()}


def measure(mode: str, records: Path, work: Path) -> dict[str, Any]:
    out = work / f"{mode}-{records.stem}"
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(records), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))))
        return 0
    p = benchlib.parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs=2, default=[20_000, 400_000])
    args = p.parse_args(argv)
    sizes = [200, 800] if args.smoke else args.sizes
    args.work.mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict[int, Any]] = {"export": {}, "report": {}}
    for n in sizes:
        records = write_records(args.work / f"records-{n}.jsonl", n)
        for mode in runs:
            if mode == "report" and args.smoke and n != sizes[0]:
                continue  # the smoke run checks that the report builds, once
            runs[mode][n] = measure(mode, records, args.work)
    small, large = sizes
    if args.smoke:
        runs["report"][large] = runs["report"][small]

    def growth(mode: str, n: int) -> float:
        r = runs[mode][n]
        return max(r["peak_mib"] - r["base_mib"], 0.01)

    result = {
        "sizes": sizes,
        "runs": runs,
        "export_growth_ratio": growth("export", large) / growth("export", small),
        "export_rows_per_s": large / runs["export"][large]["seconds"],
        "report_bytes_per_record": (growth("report", large) - growth("report", small))
        * 2**20
        / (large - small),
        "report_records_per_s": large / runs["report"][large]["seconds"],
    }
    line = (
        f"export peak RSS growth {large} vs {small} rows x{result['export_growth_ratio']:.2f}, "
        f"{result['export_rows_per_s']:.0f} rows/s; report "
        f"{result['report_bytes_per_record']:.0f} B/record, "
        f"{result['report_records_per_s']:.0f} records/s"
    )
    benchlib.save("export_report", result, args.out, line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
