"""Head-of-line: one video whose decode takes seconds delays nothing else.

In one engine process per case: the pipeline over `--size` videos, then the same run
with the first video's decode slowed by `--slow` seconds (a sleep: the worker waits, as
on a stalled read). Ready samples reach the engine in the order their decodes finish,
so every other video should finish as soon as without the slow one, and the run end
about when the slow one does. An input-order feed (the seed's DataLoader) would hold
every sample behind the first for the whole `--slow` seconds.

Reported: the time the other videos' last one finished, over the whole run without
the slow video (goal about 1), and the slow video's finish over `--slow`.

    python benchmarks/bench_head_of_line.py [--size 64] [--slow 5] [--smoke]
"""

from __future__ import annotations

import benchlib
import enginebench


def main(argv: list[str] | None = None) -> int:
    p = benchlib.parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=64, help="videos")
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--slow", type=float, default=5.0, help="seconds added to one decode")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    size = 4 if args.smoke else args.size
    slow = 1.0 if args.smoke else args.slow
    repeat = 1 if args.smoke else args.repeat

    model = benchlib.tiny_model(args.work)
    videos = benchlib.video_input(args.work, size)
    runs = []
    for _ in range(repeat):
        base = {"wall_s": float("nan")}  # the smoke run (CI) checks the slowed case only
        if not args.smoke:
            base = enginebench.run(
                enginebench.spec(
                    model, videos, ["pipeline"], max_tokens=args.max_tokens, workers=args.workers
                )
            )["pipeline"]
        slowed = enginebench.run(
            enginebench.spec(
                model,
                videos,
                ["pipeline"],
                max_tokens=args.max_tokens,
                workers=args.workers,
                slow_index=0,
                slow_s=slow,
            )
        )["pipeline"]
        times = slowed["finished_s"]
        slow_key = min(times, key=lambda k: k)  # the first row's key (video_000...)
        others = max(t for k, t in times.items() if k != slow_key)
        runs.append(
            {
                "base_wall_s": base["wall_s"],
                "slowed_wall_s": slowed["wall_s"],
                "others_done_s": others,
                "slow_done_s": times[slow_key],
                "others_over_base": benchlib.ratio(others, base["wall_s"]),
                "slow_done_over_slow": benchlib.ratio(times[slow_key], slow),
            }
        )
    best = min(runs, key=lambda r: r["others_over_base"])
    result = {"videos": size, "slow_s": slow, "workers": args.workers, "best": best, "runs": runs}
    line = (
        f"{size} videos, one decode +{slow:g} s: the others done at {best['others_done_s']:.2f} s "
        f"against {best['base_wall_s']:.2f} s without the slow one "
        f"(x{best['others_over_base']}); the slow one at {best['slow_done_s']:.2f} s"
    )
    benchlib.save("head_of_line", result, args.out, line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
