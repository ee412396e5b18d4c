"""(4) Shared decode: T tasks over N videos in one run, against one run per task.

Baseline: separate runs, one `run_tasks([cfg_j])` per task in sequence, each decoding
every video (one job per task). Candidate: one `run_tasks(cfgs)` over all tasks: each
video decoded once, one request per task. Tasks: `describe`, and `describe` with a
short prompt (`--tasks 3` adds a third prompt). Same videos, model, vision settings,
decode workers and sampling as the other engine benchmarks (temperature 0,
`ignore_eos`, so every answer has exactly `max_tokens` tokens); one engine per
measurement process, used by every run; engine start-up excluded (a warm-up run builds
the engine). The order of the two variants alternates between repeats.

Caches: prefix caching and vLLM's multimodal processor cache are on (`--caches on`),
since they are part of the saving: a video's second request reuses its prefill and
its processed inputs. With one engine for every run, a run would also hit what earlier
runs left (the second separate run the first one's videos), so the prefix, multimodal
processor and encoder caches are reset before each timed run (`LLM.reset_prefix_cache`,
`LLM.reset_mm_cache`, `LLMEngine.reset_encoder_cache`): every run starts cold, as a
job of its own would. The KV block size is 32 (`--block-size`; a GPU's default is 16):
the prefix cache reuses whole blocks only, and the CPU backend's default, 128, is longer
than what a video's prompts share here (81 of 110-150 tokens: the system prompt and 48
video tokens), so no block would be reused. `--caches off` (both caches off, as in the
other benchmarks) measures the decode sharing alone.

Each timed run includes starting its decode workers (a cost separate runs pay T
times). They fork after the engine exists and inherit its core binding, so the
dataset moves each worker off the engine's core on its first decode.

    python benchmarks/bench_shared_decode.py [--size 48] [--tasks 2] [--max-tokens 16]
        [--caches on off] [--smoke]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib
import enginebench

PROMPTS = [
    ("describe", None),  # the task's own prompt
    ("short", "Say one word about this video."),
    ("objects", "List the objects you see in this video."),
]
VARIANTS = ("separate", "shared")


def _register() -> None:
    """`describe` on a dataset that pins its decode worker off the engine's core."""
    from video_pipeline.data.dataset_qwen_video import QwenVideoDataset
    from video_pipeline.data.registry import register_dataset
    from video_pipeline.runner.feed import in_decode_worker
    from video_pipeline.tasks.describe import DescribeTask
    from video_pipeline.tasks.registry import register_task

    @register_dataset("bench_pinned_video")
    class PinnedDataset(QwenVideoDataset):
        # decode_vision, not __getitem__: the base recipe is what lets tasks share a decode
        def decode_vision(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
            cores = self.params.get("decode_cores")
            if cores and not getattr(self, "_pinned", False) and in_decode_worker():
                os.sched_setaffinity(0, cores)
                self._pinned = True
            return super().decode_vision(messages)

    @register_task
    class PinnedDescribe(DescribeTask):
        name = "bench_pinned_describe"
        dataset_name = "bench_pinned_video"


def _configs(s: dict[str, Any], input_jsonl: str, out_dir: Path) -> list[Any]:
    """One single-task config per task, from a config with a `tasks` list."""
    from video_pipeline.config import load_config
    from video_pipeline.config.loader import task_configs

    d = enginebench.config_dict({**s, "input_jsonl": input_jsonl}, out_dir, gated=False)
    d["data"]["output_jsonl"] = str(out_dir / "out.{task}.jsonl")
    cached = s["caches"] == "on"
    d["vllm"]["enable_prefix_caching"] = cached
    kwargs: dict[str, Any] = {} if cached else {"mm_processor_cache_gb": 0}
    if s["block_size"]:
        kwargs["block_size"] = s["block_size"]
    d["vllm"]["engine_kwargs"] = kwargs
    del d["run"]["task"]
    d["tasks"] = [
        {"name": name, "task": "bench_pinned_describe"}
        | ({"task_params": {"prompt": prompt}} if prompt else {})
        for name, prompt in PROMPTS[: s["tasks"]]
    ]
    decode_cores = d["task_params"]["dataset"]["decode_cores"]
    d["task_params"] = {"dataset": {"decode_cores": decode_cores}}
    return task_configs(load_config(data=d))


def _totals(stats: list[Any], walls: list[float]) -> dict[str, Any]:
    return {
        "wall_s": sum(walls),
        "task_walls_s": walls,
        "done": sum(st.done for st in stats),
        "failed": sum(st.failed for st in stats),
        "decodes_by_task": [st.decodes for st in stats],
        "decode_s_sum": sum(st.decode_s for st in stats),  # a shared decode is split
        "prompt_tokens": sum(st.prompt_tokens for st in stats),
        "cached_tokens": sum(st.cached_tokens for st in stats),
        "generated_tokens": sum(st.generated_tokens for st in stats),
    }


def child(s: dict[str, Any]) -> dict[str, Any]:
    benchlib.engine_env()
    enginebench.pin_engine(s["engine_cores"])
    _register()
    from transformers import AutoProcessor

    from video_pipeline import bench
    from video_pipeline.engine.vllm_engine import VllmEngine, build_llm
    from video_pipeline.runner.rank import run_tasks

    work = Path(tempfile.mkdtemp(prefix="bench_shared_decode"))
    processor = AutoProcessor.from_pretrained(s["model"])
    box: dict[str, Any] = {}

    def run(input_jsonl: str, which: list[int]) -> tuple[float, list[Any]]:
        cfgs = _configs(s, input_jsonl, Path(tempfile.mkdtemp(dir=work)))
        cfgs = [cfgs[j] for j in which]

        def engine_factory() -> Any:
            if "engine" not in box:
                box["engine"] = VllmEngine(build_llm(cfgs[0].vllm))
            return box["engine"]

        t0 = time.perf_counter()
        stats = run_tasks(cfgs, 0, 1, engine_factory, None, processor)
        return time.perf_counter() - t0, stats

    every = list(range(s["tasks"]))
    result: dict[str, Any] = {"videos": None, "spec": s, "load_avg": [os.getloadavg()[0]]}
    result["warm_up_s"], _ = run(s["warm_jsonl"], every)  # builds the engine
    llm = box["engine"].llm
    for variant in s["order"]:
        if variant == "separate":
            walls, stats = [], []
            for j in every:
                bench.reset_caches(llm)
                wall, (st,) = run(s["input_jsonl"], [j])
                walls.append(wall)
                stats.append(st)
        else:
            bench.reset_caches(llm)
            wall, stats = run(s["input_jsonl"], every)
            walls = [wall]
        result[variant] = _totals(stats, walls)
        result["videos"] = stats[0].total
    result["load_avg"].append(os.getloadavg()[0])
    return result


def _variant(runs: list[dict[str, Any]], name: str, size: int, tasks: int) -> dict[str, Any]:
    """Best, median and all walls of one variant, with its counts from the best run."""
    best = min(runs, key=lambda r: r[name]["wall_s"])[name]
    wall = best["wall_s"]
    # each task's stats count every decode that served it, so one shared decode shows
    # in all of them: a shared run decoded as many videos as any one task counts
    by_task = best["decodes_by_task"]
    return {
        **benchlib.summarize([r[name]["wall_s"] for r in runs]),
        "decodes": sum(by_task) if name == "separate" else max(by_task),
        "cached_tokens": best["cached_tokens"],
        "prompt_tokens": best["prompt_tokens"],
        "decode_s_sum": best["decode_s_sum"],
        "videos_per_s": round(size / wall, 3),
        "requests_per_s": round(size * tasks / wall, 3),
    }


def _check(r: dict[str, Any], size: int, tasks: int, max_tokens: int) -> None:
    """Every request answered in full, and each video decoded once per run that read it."""
    for name in VARIANTS:
        v = r[name]
        finished = v["done"] + v["failed"]  # failed: unparsable text
        full = size * tasks * max_tokens
        if finished != size * tasks or v["generated_tokens"] != full:
            raise SystemExit(f"{name}: not every request was answered fully: {v}")
        if v["decodes_by_task"] != [size] * tasks:
            raise SystemExit(f"{name}: unexpected decode counts: {v['decodes_by_task']}")


def main(argv: list[str] | None = None) -> int:
    p = benchlib.parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=48, help="videos")
    p.add_argument("--tasks", type=int, default=2, choices=(2, 3), help="tasks per video")
    p.add_argument("--max-tokens", type=int, default=16, help="tokens generated per request")
    p.add_argument("--workers", type=int, default=2, help="the runs' decode workers")
    p.add_argument(
        "--block-size", type=int, default=32, help="KV cache block size (0: the engine's)"
    )
    p.add_argument(
        "--caches",
        nargs="+",
        choices=("on", "off"),
        default=["on", "off"],
        help="prefix and multimodal processor caches, one engine process each (smoke: on)",
    )
    args = p.parse_args(argv)
    size = 4 if args.smoke else args.size
    repeat = 1 if args.smoke else args.repeat
    caches = ["on"] if args.smoke else args.caches

    model = benchlib.tiny_model(args.work)
    videos = benchlib.video_input(args.work, size)
    warm = benchlib.video_input(args.work, 4)
    profiles = []
    for c in caches:
        runs = []
        for i in range(repeat):
            s = enginebench.spec(
                model, videos, list(VARIANTS), max_tokens=args.max_tokens, workers=args.workers
            )
            order = list(VARIANTS) if i % 2 == 0 else list(reversed(VARIANTS))
            s.update(
                caches=c,
                tasks=args.tasks,
                block_size=args.block_size,
                order=order,
                warm_jsonl=str(warm),
            )
            r = enginebench.run(s, script=__file__)
            _check(r, size, args.tasks, args.max_tokens)
            runs.append(r)
        sep = _variant(runs, "separate", size, args.tasks)
        shared = _variant(runs, "shared", size, args.tasks)
        profiles.append(
            {
                "caches": c,
                "baseline": {"name": f"{args.tasks} separate runs, one per task", **sep},
                "candidate": {"name": f"one run of {args.tasks} tasks", **shared},
                "shared_over_separate": benchlib.ratio(shared["best_s"], sep["best_s"]),
                "speedup": benchlib.ratio(sep["best_s"], shared["best_s"]),
                # each run measures both in one process: its ratio is steadier under load
                "speedup_paired_median": round(
                    statistics.median(
                        r["separate"]["wall_s"] / r["shared"]["wall_s"] for r in runs
                    ),
                    3,
                ),
                "runs": runs,
            }
        )
    result = {
        "videos": size,
        "tasks": [name for name, _ in PROMPTS[: args.tasks]],
        "requests": size * args.tasks,
        "max_tokens": args.max_tokens,
        "workers": args.workers,
        "block_size": args.block_size or None,
        "profiles": profiles,
    }
    line = "; ".join(
        f"caches {pr['caches']}: separate {pr['baseline']['best_s']:.2f} s "
        f"({pr['baseline']['decodes']} decodes, {pr['baseline']['cached_tokens']} cached "
        f"tokens), shared {pr['candidate']['best_s']:.2f} s ({pr['candidate']['decodes']} "
        f"decodes, {pr['candidate']['cached_tokens']} cached tokens, "
        f"{pr['candidate']['videos_per_s']} videos/s): shared/separate "
        f"{pr['shared_over_separate']}, x{pr['speedup']} "
        f"(paired median x{pr['speedup_paired_median']})"
        for pr in profiles
    )
    head = f"{size} videos x {args.tasks} tasks, {args.max_tokens} tokens each"
    benchlib.save("shared_decode", result, args.out, f"{head}: {line}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        out = child(json.loads(Path(sys.argv[2]).read_text()))
        print(json.dumps(out, default=str))
    else:
        raise SystemExit(main())
