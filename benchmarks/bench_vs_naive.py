"""(a) The pipeline against the seed's naive loop: videos/s ratio on the same inputs.

Baseline: the seed's loop (DataLoader with num_workers 0 and batch_size 2, one blocking
`LLM.generate` per batch). Candidate: the rank runner (`run_rank`) with DataLoader
workers decoding while the engine generates. Same videos, model, vision settings and
sampling, same engine instance; engine start-up excluded from both (see enginebench).

    python benchmarks/bench_vs_naive.py [--size 48] [--max-tokens 16] [--workers 2] [--smoke]
"""

from __future__ import annotations

import statistics

import benchlib
import enginebench


def main(argv: list[str] | None = None) -> int:
    p = benchlib.parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=48, help="videos")
    p.add_argument("--max-tokens", type=int, default=16, help="tokens generated per video")
    p.add_argument("--workers", type=int, default=2, help="the pipeline's DataLoader workers")
    args = p.parse_args(argv)
    size = 4 if args.smoke else args.size
    repeat = 1 if args.smoke else args.repeat

    model = benchlib.tiny_model(args.work)
    videos = benchlib.video_input(args.work, size)
    s = enginebench.spec(
        model, videos, ["pipeline", "naive"], max_tokens=args.max_tokens, workers=args.workers
    )
    runs = [enginebench.run(s) for _ in range(repeat)]
    pipe = benchlib.summarize([r["pipeline"]["wall_s"] for r in runs])
    naive = benchlib.summarize([r["naive"]["wall_s"] for r in runs])
    for r in runs:
        full = size * s["max_tokens"]
        finished = r["pipeline"]["done"] + r["pipeline"]["failed"]  # failed: unparsable text
        if finished != size or r["pipeline"]["generated_tokens"] != full:
            raise SystemExit(f"the pipeline did not answer every video fully: {r['pipeline']}")
    result = {
        "videos": size,
        "settings": s,
        "baseline": {"name": "seed loop: workers 0, batch 2, LLM.generate per batch", **naive},
        "candidate": {"name": f"run_rank, {args.workers} DataLoader workers", **pipe},
        "baseline_videos_per_s": round(size / naive["best_s"], 3),
        "candidate_videos_per_s": round(size / pipe["best_s"], 3),
        "speedup": benchlib.ratio(naive["best_s"], pipe["best_s"]),
        # each run measures both in one process: its ratio is steadier under outside load
        "speedup_paired_median": round(
            statistics.median(r["naive"]["wall_s"] / r["pipeline"]["wall_s"] for r in runs), 3
        ),
        "runs": runs,
    }
    line = (
        f"{size} videos, {s['max_tokens']} tokens each: pipeline "
        f"{result['candidate_videos_per_s']} videos/s, naive loop "
        f"{result['baseline_videos_per_s']} videos/s: x{result['speedup']} "
        f"(paired median x{result['speedup_paired_median']})"
    )
    benchlib.save("vs_naive", result, args.out, line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
