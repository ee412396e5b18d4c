"""The workflow's quality and report steps: a task's results and its shards' stats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from video_pipeline.quality import RecordSource, flags_line, scan_task, write_quality
from video_pipeline.workflow.settings import Workflow


def _source(wf: Workflow, task: str) -> RecordSource:
    return RecordSource((wf.layout.result(task), wf.layout.result(task, ".errors.jsonl")))


def task_quality(wf: Workflow, task: str, output: str) -> str:
    """Write results/{task}.quality.json; returns its `flags: ...` line."""
    cfg = wf.configs[task]
    scan = scan_task(task, _source(wf, task), cfg.quality, cfg.data.video_field)
    return flags_line(write_quality(output, scan, cfg.quality))


def shard_rank_stats(wf: Workflow, task: str) -> list[tuple[str, dict[str, Any]]]:
    """("shard S rank r", stats) of every rank of every attempt of the task's shards."""
    out = []
    for shard in wf.shards:
        path = Path(wf.layout.part(task, shard, ".stats.json"))
        if not path.exists():
            continue
        attempts = json.loads(path.read_text()).get("rank_stats") or []
        for a, ranks in enumerate(attempts):
            again = f" (attempt {a + 1})" if len(attempts) > 1 else ""
            for stats in ranks:
                out.append((f"shard {shard} rank {stats.get('rank', '?')}{again}", stats))
    return out


def write_report(wf: Workflow, index_html: str) -> None:
    from video_pipeline.report.build import TaskInput, build_report

    tasks = []
    for t in wf.task_names:
        # The first shard's config: the dataset resolves paths as the infer jobs did.
        cfg = wf.shard_config(t, wf.shards[0])
        task = TaskInput(t, cfg, _source(wf, t), shard_rank_stats(wf, t))
        tasks.append(task)
        if wf.clips.enabled:
            task.videos = wf.layout.result(t, ".videos.jsonl")
        if wf.clips.summary:
            from video_pipeline.clips.summary import summary_config, summary_input

            src = wf.summary_source(t)
            found = RecordSource(
                (
                    wf.layout.result(t, ".summary.jsonl"),
                    wf.layout.result(t, ".summary.errors.jsonl"),
                )
            )
            task.summaries = found
            summary = summary_config(src, summary_input(src))
            tasks.append(TaskInput(f"{t}.summary", summary, found, frames=False))
    build_report(tasks, Path(index_html).parent, title=f"video-pipeline report: {wf.layout.outdir}")
