"""Memory bounded by bytes: a rank's peak RSS with large frames, bounded and not.

The pipeline over `--size` 640x360 videos sampled into 16 frames each (11 MiB of uint8
frames a video, and the processor's float copy), with `run.max_in_flight_mb` at
`--bound` and with no byte bound (the request window alone, up to 128 requests). The
rank process's peak RSS (getrusage) and the decoded bytes it held at once
(`peak_in_flight_mb` of its stats) are compared: bounded, the bytes held stay under
the bound plus one sample, whatever the window.

    python benchmarks/bench_in_flight_bytes.py [--size 48] [--bound 256] [--smoke]
"""

from __future__ import annotations

import benchlib
import enginebench

VISION = {"total_pixels": 4_000_000, "max_pixels": 230_400, "min_pixels": 3136, "fps": 2}


def main(argv: list[str] | None = None) -> int:
    p = benchlib.parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=48, help="videos")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--bound", type=float, default=256.0, help="run.max_in_flight_mb")
    p.add_argument("--layers", type=int, help="a deeper tiny model: decoded samples queue")
    args = p.parse_args(argv)
    size = 4 if args.smoke else args.size
    repeat = 1 if args.smoke else args.repeat

    model = benchlib.tiny_model(args.work, None if args.smoke else args.layers)
    videos = benchlib.video_input(args.work, size, seconds=8.0, width=640, height=360)
    cases = {}
    # the smoke run (CI) checks the bounded case only
    both = (("bounded", args.bound), ("unbounded", None))
    for name, bound in both[:1] if args.smoke else both:
        runs = [
            enginebench.run(
                enginebench.spec(
                    model,
                    videos,
                    ["pipeline"],
                    max_tokens=args.max_tokens,
                    vision=VISION,
                    max_in_flight_mb=bound,
                )
            )["pipeline"]
            for _ in range(repeat)
        ]
        cases[name] = {
            "max_in_flight_mb": bound,
            "peak_rss_mib": min(r["peak_rss_mib"] for r in runs),
            "peak_in_flight_mb": min(r["peak_in_flight_mb"] for r in runs),
            "wall_s": min(r["wall_s"] for r in runs),
            "runs": [{k: v for k, v in r.items() if k != "finished_s"} for r in runs],
        }
    b = cases["bounded"]
    u = cases.get(
        "unbounded",
        {"peak_rss_mib": float("nan"), "peak_in_flight_mb": float("nan"), "wall_s": float("nan")},
    )
    result = {
        "videos": size,
        "vision": VISION,
        "cases": cases,
        "rss_bounded_over_unbounded": benchlib.ratio(b["peak_rss_mib"], u["peak_rss_mib"]),
    }
    ratio = result["rss_bounded_over_unbounded"]
    line = (
        f"{size} videos of 16 640x360 frames: bound {args.bound:g} MB held at most "
        f"{b['peak_in_flight_mb']:.0f} MB, peak RSS {b['peak_rss_mib']:.0f} MiB "
        f"({b['wall_s']:.2f} s); no bound held {u['peak_in_flight_mb']:.0f} MB, peak RSS "
        f"{u['peak_rss_mib']:.0f} MiB ({u['wall_s']:.2f} s): x{ratio}"
    )
    benchlib.save("in_flight_bytes", result, args.out, line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
