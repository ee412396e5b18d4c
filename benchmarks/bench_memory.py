"""(3) Bounded memory: a rank's peak RSS for a small and a large input, decode stubbed.

Each size runs in a fresh subprocess that imports what a rank imports (torch, the
runner), then goes through the rank's planning and feeding path: `InputIndex.build`,
`scan_done` over journals holding the first half of the rows, `plan_work`,
`SampleSource`, and the dataset read through a DataLoader (batch 2, no workers) with
`build_llm_input` stubbed, so no video is decoded and no model loads. Peak RSS comes
from `getrusage`; the goal is the large input's peak within 10% of the small one's.

    python benchmarks/bench_memory.py [--sizes 10000 1000000] [--smoke]
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path
from typing import Any

import benchlib


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(work: Path) -> dict[str, Any]:
    """The rank's planning path over `work`'s input and journals; prints its RSS."""
    from video_pipeline.data.dataset_qwen_video import QwenVideoDataset
    from video_pipeline.fingerprint import fingerprint
    from video_pipeline.io.journal import journal_paths, scan_done
    from video_pipeline.io.jsonl import InputIndex
    from video_pipeline.runner.partition import plan_work
    from video_pipeline.tasks.registry import get_task_class

    class StubDecode(QwenVideoDataset):
        def video_uri(self, value: Any) -> Any:
            return value  # the rows name videos that do not exist

        def build_llm_input(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
            return {"prompt": "stub", "multi_modal_data": {}}

    cfg = benchlib.planning_config(work / "input.jsonl", work / "out.describe.jsonl")
    task = get_task_class(cfg.run.task)(**cfg.task_kwargs)
    base_peak, base_rss = peak_rss_mib(), current_rss_mib()
    t0 = time.perf_counter()
    index = InputIndex.build(cfg.data.input_jsonl, cfg.data.video_field, cfg.data.id_field)
    t_index = time.perf_counter() - t0
    done = scan_done(journal_paths(cfg.data.output_jsonl), fingerprint(cfg))
    work_plan = plan_work(index, 1, 0, done)
    t_plan = time.perf_counter() - t0
    after_plan = peak_rss_mib()
    from video_pipeline.data.samples import SampleSource

    samples = SampleSource(index, work_plan.selected, cfg.data.video_field, cfg.data.id_field)
    dataset = StubDecode(samples, task, processor=None, vision=cfg.vision)
    n = errors = 0
    for i in range(len(dataset)):  # what a decode worker does, in this process
        n += 1
        errors += "error" in dataset[i]
    return {
        "rows": len(index),
        "done_keys": len(done),
        "fed": n,
        "feed_errors": errors,
        "index_s": round(t_index, 3),
        "plan_s": round(t_plan, 3),
        "total_s": round(time.perf_counter() - t0, 3),
        "rss_after_imports_mib": round(base_rss, 1),
        "peak_before_mib": round(base_peak, 1),
        "peak_after_plan_mib": round(after_plan, 1),
        "peak_mib": round(peak_rss_mib(), 1),
    }


def prepare(work_root: Path, size: int) -> Path:
    work = work_root / f"memory_{size}"
    inp = benchlib.synthetic_rows(work / "input.jsonl", size)
    cfg = benchlib.planning_config(inp, work / "out.describe.jsonl")
    benchlib.synthetic_journals(cfg, ranks=2, limit=size // 2)
    return work


def measure(work: Path) -> dict[str, Any]:
    try:
        return benchlib.child(__file__, str(work))
    except benchlib.ChildFailed as e:
        raise SystemExit(f"child for {work} failed:\n{e.stderr[-4000:]}") from None


def main(argv: list[str] | None = None) -> int:
    p = benchlib.parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs=2, default=[10_000, 1_000_000])
    p.add_argument("--child", type=Path, help=argparse_hidden())
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return 0
    small, large = (200, 4000) if args.smoke else args.sizes
    repeat = 1 if args.smoke else args.repeat
    runs: dict[str, list[dict[str, Any]]] = {}
    for size in (small, large):
        work = prepare(args.work, size)
        runs[str(size)] = [measure(work) for _ in range(repeat)]
    # RSS is deterministic up to allocator noise: report the lowest peak of the repeats.
    best = {k: min(v, key=lambda r: r["peak_mib"]) for k, v in runs.items()}
    s, big = best[str(small)], best[str(large)]
    growth = big["peak_mib"] / s["peak_mib"]
    result = {
        "sizes": [small, large],
        "small": s,
        "large": big,
        "runs": runs,
        "peak_ratio": round(growth, 3),
        "extra_mib": round(big["peak_mib"] - s["peak_mib"], 1),
        "extra_bytes_per_row": round(
            (big["peak_mib"] - s["peak_mib"]) * 2**20 / max(large - small, 1), 1
        ),
        "goal": "peak RSS of the large input within 10% of the small one's",
        "goal_met": growth <= 1.10,
    }
    line = (
        f"peak RSS {small} rows {s['peak_mib']:.0f} MiB, {large} rows {big['peak_mib']:.0f} MiB: "
        f"x{growth:.3f} (+{result['extra_mib']} MiB, {result['extra_bytes_per_row']} B/row)"
    )
    benchlib.save("memory", result, args.out, line)
    return 0


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    raise SystemExit(main())
