"""How close the pipeline comes to the engine's speed of light, before a big job.

    python -m video_pipeline.cli.bench --config my.yaml [--n 64] [--repeat 3] [--json]
    python -m video_pipeline.cli.bench --config my.yaml --sweep \\
        [--grid vllm.max_num_seqs=64,128 --grid data.num_workers=2,4]

`--config` is a launch config or the workflow config given to Snakemake, as for the
other commands; `--task` picks the task (default: the first). On the first `--n`
videos of that task's input, it runs the engine
alone on pre-decoded, pre-rendered inputs (the ceiling), then the pipeline on the same
videos with the same engine, and prints the ratio, videos per GPU-hour, prompt and
generated tokens/s, and where the pipeline's time went. Answers have a fixed length
(`ignore_eos`). One GPU (the first visible) or, without one, this machine's cores
split as a CPU rank splits them (the engine its own, decoding the rest).
`--sweep` measures each combination of `--grid` values (default: max_num_seqs,
num_workers, render_threads) in a process of its own and prints a table, best first.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from video_pipeline.config import Config

DEFAULT_GRID = [
    "vllm.max_num_seqs=64,128,256",
    "data.num_workers=2,4",
    "run.render_threads=1,2",
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from video_pipeline.cli.common import add_run_args

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_run_args(p)
    p.add_argument("--n", type=int, default=64, help="videos from the start of the input")
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="pairs of runs, alternating on one engine; the median is reported",
    )
    p.add_argument("--json", action="store_true", help="print the measurements as JSON")
    p.add_argument("--sweep", action="store_true", help="try the --grid combinations")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help=f"values to sweep (repeatable; default: {' '.join(DEFAULT_GRID)})",
    )
    p.add_argument("--one", help=argparse.SUPPRESS)  # a sweep's child: its settings as JSON
    return p.parse_args(argv)


def combos(grid: list[str]) -> list[dict[str, str]]:
    axes = []
    for item in grid:
        key, _, values = item.partition("=")
        if not key or not values:
            raise SystemExit(f"error: --grid {item!r} must look like key.path=v1,v2")
        axes.append([(key, v) for v in values.split(",")])
    return [dict(c) for c in itertools.product(*axes)]


def pin_bench(workers: int, render: int) -> str:
    """Before torch: one GPU, or this machine's cores split as a CPU rank's are."""
    from video_pipeline.devices import DeviceError, require_cpu_build, take_first_gpu
    from video_pipeline.runner.threads import pin_cpu_rank, size_gpu_rank

    gpu = take_first_gpu()
    if gpu is not None:
        size_gpu_rank(workers, render, tp=1)
        return f"GPU {gpu}"
    try:
        require_cpu_build()
    except DeviceError as e:
        raise SystemExit(f"error: {e}") from None
    cores = sorted(os.sched_getaffinity(0))
    pin_cpu_rank(cores, workers)
    return f"CPU, engine on cores {os.environ['VLLM_CPU_OMP_THREADS_BIND']}"


def task_config(args: argparse.Namespace, settings: dict[str, str]) -> Config:
    """The config of the task to measure (`--task`, else the first), `settings` applied:
    a launch config's task, or a workflow task's over the workflow's whole input."""
    from video_pipeline.cli.common import named_configs_or_die

    overrides = [*args.overrides, *(f"{k}={v}" for k, v in settings.items())]
    named = named_configs_or_die(argparse.Namespace(**{**vars(args), "overrides": overrides}))
    return named[0][1]


def measure_here(args: argparse.Namespace, settings: dict[str, str]) -> dict:
    from video_pipeline import bench

    shape = task_config(args, settings)
    where = pin_bench(max(1, shape.data.num_workers), shape.run.render_threads)
    from video_pipeline.engine.vllm_engine import engine_env_defaults

    engine_env_defaults()
    work = bench.scratch()
    try:
        cfg, n = bench.bench_config(shape, work, args.n)
        if n == 0:
            raise SystemExit("error: no usable rows in data.input_jsonl")
        m = bench.measure(cfg, n, settings, repeat=args.repeat)
    finally:
        bench.cleanup(work)
    return {**m.to_dict(), "device": where}


def report(m: dict) -> str:
    t, st = m["times"], m["steps"]
    lines = [
        f"{m['videos']} videos on {m['device']}: pipeline {m['pipeline_s']:.2f}s, "
        f"engine alone {m['engine_alone_s']:.2f}s -> pipeline / engine alone = {m['ratio']:.3f}",
        f"  {m['videos_per_s']:.2f} videos/s = {m['videos_per_gpu_hour']} videos per GPU-hour; "
        f"prompt {m['prompt_tokens_per_s']:.0f} tok/s, generated "
        f"{m['generated_tokens_per_s']:.0f} tok/s",
        "  stepping thread: "
        + ", ".join(f"{k} {t[k]:.2f}" for k in ("step_s", "add_s", "idle_s", "other_s"))
        + f"; outside step(): {100 * t['outside_step_share']:.1f}% of its wall",
        f"  render {t['render_s']:.2f}s, decode {t['decode_s (summed over workers)']:.2f}s "
        "(summed over workers)",
        f"  engine steps: pipeline {st['pipeline']} at {st['step_ms_pipeline']:.1f} ms "
        f"({st['step_cpu_ms_pipeline']:.1f} ms on a core), "
        f"{st['pipeline_mean_in_flight']:.0f} requests in flight; engine alone "
        f"{st['engine_alone']} at {st['step_ms_engine_alone']:.1f} ms "
        f"({st['step_cpu_ms_engine_alone']:.1f} ms on a core), "
        f"{st['engine_alone_mean_in_flight']:.0f} in flight",
    ]
    if len(m["ratios"]) > 1:
        lines.append("  ratio of each pair: " + ", ".join(f"{r:.3f}" for r in m["ratios"]))
    return "\n".join(lines)


def sweep(args: argparse.Namespace) -> list[dict]:
    out = []
    for settings in combos(args.grid or DEFAULT_GRID):
        cmd = [sys.executable, "-m", "video_pipeline.cli.bench", "--config", args.config]
        cmd += [*(a for o in args.overrides for a in ("--set", o)), "--n", str(args.n)]
        cmd += ["--task", args.task] if args.task else []
        cmd += ["--repeat", str(args.repeat)]
        cmd += ["--one", json.dumps(settings)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
            out.append({"settings": settings, "error": tail[0]})
            print(f"{settings}: failed: {tail[0]}", file=sys.stderr)
            continue
        m = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"{settings}: {m['videos_per_s']:.2f} videos/s, ratio {m['ratio']:.3f}", file=sys.stderr
        )
        out.append(m)
    return out


def table(results: list[dict]) -> str:
    ok = sorted((r for r in results if "error" not in r), key=lambda r: -r["videos_per_s"])
    rows = [("videos/s", "ratio", "outside step", "settings")]
    for r in ok:
        s = " ".join(f"{k}={v}" for k, v in r["settings"].items())
        share = f"{100 * r['times']['outside_step_share']:.1f}%"
        rows.append((f"{r['videos_per_s']:.2f}", f"{r['ratio']:.3f}", share, s))
    rows += [("failed", "", "", f"{r['settings']}: {r['error']}") for r in results if "error" in r]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in rows
    )


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """vLLM logs to stdout; the measurements own it."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def main(argv: list[str] | None = None) -> int:
    from video_pipeline.cli.common import setup_logging

    setup_logging()
    args = parse_args(argv)
    if args.one is not None:
        with stdout_to_stderr():
            m = measure_here(args, json.loads(args.one))
        print(json.dumps(m), flush=True)
        os._exit(0)  # the engine's teardown would log to stdout after the result
    if args.sweep:
        results = sweep(args)
        print(json.dumps(results, indent=2) if args.json else table(results))
        return 0 if any("error" not in r for r in results) else 1
    with stdout_to_stderr():
        m = measure_here(args, {})
    print(json.dumps(m, indent=2) if args.json else report(m), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
