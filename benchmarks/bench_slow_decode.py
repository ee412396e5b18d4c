"""(c) A decoder slowed to the engine's per-video time: wall near max(D/workers, E).

A calibration run measures the engine's time per video on pre-decoded inputs (E/n) and
the real decode time per video; the decoder is then slowed with a sleep so that one
video's decode takes about E/n (a sleep holds neither a core nor the GIL, like waiting
on storage or on a busy CPU of a GPU machine). Then, in one engine process: the pipeline
with `--workers` workers, the seed's loop (decode then generate, one after the other:
the sum) and the engine alone (E). Reported: pipeline wall against max(D / workers, E)
and against D + E.

    python benchmarks/bench_slow_decode.py [--size 32] [--workers 2 4] [--smoke]
"""

from __future__ import annotations

import benchlib
import enginebench


def main(argv: list[str] | None = None) -> int:
    p = benchlib.parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=32, help="videos")
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    p.add_argument(
        "--sleep", type=float, help="seconds added to each decode (default: from calibration)"
    )
    args = p.parse_args(argv)
    size = 4 if args.smoke else args.size
    repeat = 1 if args.smoke else args.repeat
    workers = [2] if args.smoke else args.workers

    model = benchlib.tiny_model(args.work)
    videos = benchlib.video_input(args.work, size)
    calib = enginebench.run(
        enginebench.spec(model, videos, ["engine_only"], max_tokens=args.max_tokens)
    )
    engine_per_video = calib["engine_only"]["wall_s"] / size
    decode_per_video = calib["decode_s_sum"] / size
    extra = max(0.0, engine_per_video - decode_per_video) if args.sleep is None else args.sleep

    cases = []
    for w in workers:
        s = enginebench.spec(
            model,
            videos,
            ["pipeline", "naive", "engine_only"],
            max_tokens=args.max_tokens,
            workers=w,
            extra_decode_s=extra,
        )
        runs = [enginebench.run(s) for _ in range(repeat)]
        best = min(runs, key=lambda r: r["pipeline"]["wall_s"])
        decode = best["decode_s_sum"]
        engine = min(r["engine_only"]["wall_s"] for r in runs)
        pipe = min(r["pipeline"]["wall_s"] for r in runs)
        naive = min(r["naive"]["wall_s"] for r in runs)
        ideal = max(decode / w, engine)
        cases.append(
            {
                "workers": w,
                "decode_s_sum": decode,
                "engine_s": engine,
                "ideal_s": ideal,
                "sum_s": decode + engine,
                "pipeline_s": pipe,
                "naive_s": naive,
                "pipeline_over_ideal": benchlib.ratio(pipe, ideal),
                "pipeline_over_sum": benchlib.ratio(pipe, decode + engine),
                "runs": runs,
            }
        )
    result = {
        "videos": size,
        "engine_s_per_video": engine_per_video,
        "decode_s_per_video_real": decode_per_video,
        "added_sleep_s": extra,
        "cases": cases,
        "calibration": calib,
    }
    line = "; ".join(
        f"{c['workers']} workers: pipeline {c['pipeline_s']:.2f} s, max(D/w, E) "
        f"{c['ideal_s']:.2f} s (x{c['pipeline_over_ideal']}), D+E {c['sum_s']:.2f} s "
        f"(x{c['pipeline_over_sum']}), naive {c['naive_s']:.2f} s"
        for c in cases
    )
    benchlib.save("slow_decode", result, args.out, f"{size} videos: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
