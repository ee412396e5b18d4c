"""Probe every input video as a run would, without loading the model.

    python -m video_pipeline.cli.preflight --config configs/describe.yaml --tokens-per-s 20000

Reports the rows that will fail (and why), the videos over vllm.max_model_len, the total
prompt tokens and, given a prompt-token rate per GPU, the GPU-hours they imply. From each
video's header it predicts the decode's CPU seconds and memory, warns about videos over
run.decode_timeout_s or a decode worker's share of the node's memory (host memory /
(ranks per node x data.num_workers)), and prints the host cores per GPU that decoding
needs at --videos-per-gpu-hour. Exits 0, or 1 with --strict when some row will fail or
exceed the budget.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from video_pipeline.cli.common import add_run_args, fail, run_configs_or_die, setup_logging
from video_pipeline.config import ConfigError
from video_pipeline.decode_cost import VIDEOS_PER_GPU_HOUR, DecodePlan


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    logging.getLogger("qwen_vl_utils").setLevel(logging.WARNING)  # a line per video
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_run_args(p)
    p.add_argument("--tokens-per-s", type=float, help="prompt tokens per second per GPU")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--probes", type=Path, help="also write one JSON line per video here")
    p.add_argument("--strict", action="store_true", help="exit 1 if any row fails or is too long")
    p.add_argument(
        "--videos-per-gpu-hour",
        type=float,
        default=VIDEOS_PER_GPU_HOUR,
        help="the engine's rate, for the host cores per GPU decoding needs (default "
        f"{VIDEOS_PER_GPU_HOUR:g}; `bench` measures yours)",
    )
    p.add_argument(
        "--host-memory-gb",
        type=float,
        help="memory of a node the run uses (default: this machine's)",
    )
    p.add_argument(
        "--ranks-per-node",
        type=int,
        default=1,
        help="ranks sharing a node: GPUs per node / vllm.tensor_parallel_size (default 1)",
    )
    args = p.parse_args(argv)
    if args.tokens_per_s is not None and args.tokens_per_s <= 0:
        fail(f"--tokens-per-s must be > 0, got {args.tokens_per_s}")
    for name in ("videos_per_gpu_hour", "host_memory_gb", "ranks_per_node"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            fail(f"--{name.replace('_', '-')} must be > 0, got {value}")
    memory_mb = args.host_memory_gb * 1024 if args.host_memory_gb else None
    plan = DecodePlan(args.videos_per_gpu_hour, memory_mb, args.ranks_per_node)
    # with clips on: one probe per clip; a workflow config: each task over its input
    cfgs = run_configs_or_die(args, expand=True, workflow=True)
    if args.probes and len(cfgs) > 1:
        fail("--probes names one file; the config lists several tasks")
    from video_pipeline.fingerprint import fingerprint
    from video_pipeline.preflight import run_preflight
    from video_pipeline.runner.checks import chat_family
    from video_pipeline.stages.plan import upstream_of
    from video_pipeline.tasks.registry import get_task_class

    by_fp = {fingerprint(c): c for c in cfgs}  # a stage names its upstream by fingerprint
    bad = False
    for cfg in cfgs:  # prompts, and so token counts, differ by task
        # a stage over other tasks' answers; a soundtrack for a speech model (Whisper),
        # which no chat family counts (on an Omni model its windows are probed)
        dataset = get_task_class(cfg.run.task).dataset_name
        if dataset == "text" or (dataset == "audio" and chat_family(cfg.vllm.model) is None):
            what = "is text only (a stage)" if dataset == "text" else "runs on a speech model"
            print(f"preflight: task {cfg.run.task} {what}: nothing to probe")
            continue
        # an upstream answer not there yet counts as long as its task may write
        limits = {
            name: by_fp.get(up["fingerprint"], cfg).sampling.max_tokens
            for name, up in upstream_of(cfg).items()
        }
        try:
            report = run_preflight(
                cfg, args.tokens_per_s, args.probes, plan=plan, upstream_max_tokens=limits
            )
        except ConfigError as e:  # an unsupported model, a vision budget it cannot meet
            fail(str(e))
        print(report.to_json() if args.json else report.summary())
        bad = bad or bool(report.failed or report.over_budget)
    return 1 if args.strict and bad else 0


if __name__ == "__main__":
    sys.exit(main())
