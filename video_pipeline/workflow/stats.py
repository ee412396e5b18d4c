"""Stats of finished shards and tasks: counts from the outputs, rates from the ranks.

Counts (ok, failed) come from the finalized records, so they are exact whatever
happened on the way. Rates come from the ranks' own stats of every attempt of the
current run (a resumed job has several), summed: time is what the ranks spent in their
loop, job time what the launches took in all (engine starts included).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from video_pipeline.merge import MergeReport

RATE_FIELDS = ("finished", "prompt_tokens", "generated_tokens", "rank_s", "job_s", "attempts")


def current_attempts(path: str | Path, fingerprint: str) -> list[dict[str, Any]]:
    """Attempts since the job last started fresh (journals set aside) under `fingerprint`."""
    if not Path(path).exists():
        return []
    run: list[dict[str, Any]] = []
    prev_fp = None
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        a = json.loads(line)
        if a.get("fresh") or a["fingerprint"] != prev_fp:
            run = []
        prev_fp = a["fingerprint"]
        run.append(a)
    return run if prev_fp == fingerprint else []


def rates(attempts: list[dict[str, Any]]) -> dict[str, float]:
    out = dict.fromkeys(RATE_FIELDS, 0.0)
    for a in attempts:
        ranks = a.get("rank_stats") or []
        out["finished"] += sum(r["done"] + r["failed"] for r in ranks)
        out["prompt_tokens"] += sum(r["prompt_tokens"] for r in ranks)
        out["generated_tokens"] += sum(r["generated_tokens"] for r in ranks)
        out["rank_s"] += max((r["wall_s"] for r in ranks), default=0.0)
        out["job_s"] += a["ended"] - a["started"]
        out["attempts"] += 1
    return out


def part_stats(report: MergeReport, attempts_path: str | Path, fingerprint: str) -> dict:
    run = current_attempts(attempts_path, fingerprint)
    return {
        "fingerprint": fingerprint,
        "merge": asdict(report),
        "ok": report.ok,
        "failed": report.failed,
        "errors_by_kind": report.errors_by_kind,
        **rates(run),
        "gpu_ids": [a["gpu_ids"] for a in run],
        "rank_stats": [a.get("rank_stats") or [] for a in run],
    }


def task_stats(task: str, parts: list[dict]) -> dict:
    kinds: dict[str, int] = {}
    for p in parts:
        for k, v in p["errors_by_kind"].items():
            kinds[k] = kinds.get(k, 0) + v
    totals = {f: sum(p[f] for p in parts) for f in ("ok", "failed", *RATE_FIELDS)}
    rank_s = totals["rank_s"] or 1e-9
    return {
        "task": task,
        "shards": len(parts),
        **totals,
        "errors_by_kind": kinds,
        # per job-second of rank time: jobs of one task may run side by side
        "videos_per_s": totals["finished"] / rank_s,
        "prompt_tokens_per_s": totals["prompt_tokens"] / rank_s,
        "generated_tokens_per_s": totals["generated_tokens"] / rank_s,
    }
