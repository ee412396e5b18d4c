"""The report of a million records: build time, peak memory, and the page's size.

A merged output of synthetic records (a three-field result each, 5% errors, a video
path per row, 1 in 41 truncated) with the run's thumbnail strips beside it (tiny JPEGs,
as `run.thumbnails` keeps them) is written once per size; each build runs in a fresh
subprocess that imports what `cli.report` imports first. Measured: the build's wall
time and peak RSS above its imports (`getrusage`), the bytes a browser loads to open
the page (index.html, assets, summary, index, the first data page, charts and the
first page's thumbnails) and the whole folder, and, where Debian's chromium is
installed, the time headless Chromium takes from navigation to the first page of
records shown. Ratios are the large size against the baseline size.

Goals: the page a browser opens and the folder do not grow with the run (ratio near
1: thumbnails and rows are a bounded sample, counts are aggregates); past the
near-duplicate check's sample of answers (its cap), memory grows by tens of bytes per
record (the quality scan's arrays), measured between the two largest sizes; build time
linear.

    python benchmarks/bench_report_scale.py [--sizes 10000 200000 1000000] [--smoke]
"""

from __future__ import annotations

import base64
import io
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import benchlib

CHROMIUM = Path("/usr/bin/chromium")


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _jpeg() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 28), (90, 140, 200)).save(buf, format="JPEG", quality=50)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def write_run(folder: Path, n: int) -> Path:
    """`folder/o.jsonl`, `o.errors.jsonl` and `o.strips` as merge leaves them."""
    out = folder / "o.jsonl"
    if out.exists():
        return out
    folder.mkdir(parents=True, exist_ok=True)
    jpeg = _jpeg()
    with (
        open(folder / "o.jsonl.tmp", "w") as ok,
        open(folder / "o.errors.jsonl", "w") as errors,
        open(folder / "o.strips", "w") as strips,
    ):
        for i in range(n):
            rec = benchlib.synthetic_record(i)
            if rec["status"] == "error":
                errors.write(json.dumps(rec) + "\n")
                continue
            ok.write(json.dumps(rec) + "\n")
            strip = {
                "__key": rec["__key"],
                "fingerprint": "0123456789abcdef",
                "sampled": 8,
                "width": 16,
                "height": 28,
                "frames": [{"t": 0.5, "jpeg": jpeg}, {"t": 2.5, "jpeg": jpeg}],
            }
            strips.write(json.dumps(strip) + "\n")
    (folder / "o.jsonl.tmp").rename(out)
    return out


def child(records: Path, out: Path) -> dict[str, Any]:
    from video_pipeline.config import load_config
    from video_pipeline.quality import RecordSource
    from video_pipeline.report.build import TaskInput, build_report

    cfg = load_config(
        data={
            "data": {"input_jsonl": str(records), "output_jsonl": str(records)},
            "vllm": {"model": "none"},
            "run": {"task": "structured_caption"},
        }
    )
    import altair  # noqa: F401 (imports come before the baseline)
    import vl_convert  # noqa: F401

    import video_pipeline.report.thumbs  # noqa: F401

    source = RecordSource((str(records), str(records.with_name("o.errors.jsonl"))))
    base = peak_mib()
    t0 = time.perf_counter()
    summary = build_report([TaskInput("caption", cfg, source)], out)
    return {
        "seconds": time.perf_counter() - t0,
        "base_mib": base,
        "peak_mib": peak_mib(),
        "shown": summary["rows"],
    }


def page_bytes(report: Path) -> dict[str, int]:
    """What a browser loads to open the page, and the whole folder."""
    first = json.loads(
        (report / "data" / "chunk-00000.js").read_text()[len("REPORT.chunk(0, ") : -3]
    )
    thumbs = {f["src"] for r in first[:25] for f in ((r.get("frames") or {}).get("frames") or [])}
    opened = [report / "index.html", *(report / "assets").iterdir(), *report.glob("charts/*")]
    opened += [report / "data" / n for n in ("summary.js", "index.js", "chunk-00000.js")]
    opened += [report / t for t in thumbs]
    return {
        "open_bytes": sum(p.stat().st_size for p in opened),
        "folder_bytes": sum(p.stat().st_size for p in report.rglob("*") if p.is_file()),
    }


def open_seconds(report: Path) -> float | None:
    """Headless Chromium: navigation to the first page of records on screen (best of 3)."""
    if not CHROMIUM.exists():
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        best = float("inf")
        for _ in range(3):
            page = browser.new_page()
            t0 = time.perf_counter()
            page.goto((report / "index.html").resolve().as_uri())
            page.wait_for_selector("#rows[data-ready='1'] .card")
            best = min(best, time.perf_counter() - t0)
            page.close()
        browser.close()
    return best


def measure(records: Path, work: Path) -> dict[str, Any]:
    out = work / f"report-{records.parent.name}"
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(records), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result.update(page_bytes(out))
    result["open_s"] = open_seconds(out)
    return result


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(Path(sys.argv[2]), Path(sys.argv[3]))))
        return 0
    p = benchlib.parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 200_000, 1_000_000])
    args = p.parse_args(argv)
    sizes = [300, 3000] if args.smoke else sorted(args.sizes)
    args.work.mkdir(parents=True, exist_ok=True)
    runs = {}
    for n in sizes:
        t0 = time.perf_counter()
        records = write_run(args.work / f"scale-{n}", n)
        print(f"{n} records ready in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        runs[n] = measure(records, args.work)
        print(f"{n}: {runs[n]}", file=sys.stderr)
    small, mid, large = sizes[0], sizes[-2], sizes[-1]
    a, m, b = runs[small], runs[mid], runs[large]

    def growth(r: dict[str, Any]) -> float:
        return max(r["peak_mib"] - r["base_mib"], 0.01)

    result = {
        "sizes": sizes,
        "runs": runs,
        "seconds_ratio": b["seconds"] / a["seconds"],
        "records_per_s": large / b["seconds"],
        "peak_growth_ratio": growth(b) / growth(a),
        # between the two largest sizes: past the near-duplicate sample's cap
        # (quality.near_duplicate_max_answers), what each further record costs
        "bytes_per_record": (growth(b) - growth(m)) * 2**20 / max(large - mid, 1),
        "open_bytes_ratio": b["open_bytes"] / a["open_bytes"],
        "folder_bytes_ratio": b["folder_bytes"] / a["folder_bytes"],
        "open_s_ratio": (b["open_s"] / a["open_s"]) if a["open_s"] and b["open_s"] else None,
    }
    opened = f", opens in {b['open_s']:.2f} s" if b["open_s"] is not None else ""
    line = (
        f"report of {large} vs {small} records: build {b['seconds']:.1f} s "
        f"(x{result['seconds_ratio']:.0f}, {result['records_per_s']:.0f} records/s), "
        f"peak RSS +{growth(b):.0f} MiB (x{result['peak_growth_ratio']:.1f}; "
        f"{result['bytes_per_record']:.0f} B/record from {mid}), "
        f"page {b['open_bytes'] / 1e6:.2f} MB (x{result['open_bytes_ratio']:.2f}), "
        f"folder {b['folder_bytes'] / 1e6:.2f} MB (x{result['folder_bytes_ratio']:.2f})"
        f"{opened}"
    )
    benchlib.save("report_scale", result, args.out, line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
