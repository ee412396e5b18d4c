"""Entry points of the rules' scripts: Snakemake's job object -> the workflow's steps.

Each step logs into the rule's `log:` file and turns a failure into one clear line on
stderr (the full traceback goes to the log) and a non-zero exit.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

from video_pipeline.cli.lifeline import die_with_snakemake
from video_pipeline.workflow.logs import log_to
from video_pipeline.workflow.settings import load_workflow

log = logging.getLogger("video_pipeline")


@contextlib.contextmanager
def _step(job: Any) -> Iterator[None]:
    # Killing Snakemake (even `kill -9` of its main process alone) ends the job: its
    # script, `launch` and the ranks, which would otherwise run on as orphans.
    die_with_snakemake()
    log_to(job.log[0])
    try:
        yield
    except Exception as e:
        log.exception("rule %s failed", job.rule)
        print(f"error in rule {job.rule}: {type(e).__name__}: {e}", file=sys.stderr)
        raise SystemExit(1) from None


def shard(job: Any) -> None:
    from video_pipeline.workflow.shard import write_shards

    with _step(job):
        wf = load_workflow(job.config)
        write_shards(job.input.rows, list(job.output), *wf.key_fields)


def infer(job: Any) -> None:
    from video_pipeline.workflow.infer import run_infer

    with _step(job):
        wf = load_workflow(job.config)
        # One task per job, or with share_decode every task in one job.
        tasks = [job.wildcards.task] if hasattr(job.wildcards, "task") else wf.task_names
        run_infer(wf, tasks, job.wildcards.shard, job.log[0])


def merge(job: Any) -> None:
    from video_pipeline.workflow.merge import merge_task

    with _step(job):
        merge_task(
            job.wildcards.task,
            list(job.input.parts),
            list(job.input.errors),
            list(job.input.stats),
            job.output.results,
            job.output.errors,
            job.output.stats,
        )


def expand_clips(job: Any) -> None:
    from video_pipeline.workflow.clips import expand_shard

    with _step(job):
        wf = load_workflow(job.config)
        workers = job.threads if job.threads > 1 else 0  # probing processes; 0: inline
        expand_shard(wf, job.wildcards.shard, job.output.rows, job.output.probes, workers)


def clip_shards(job: Any) -> None:
    from video_pipeline.workflow.clips import write_clip_shards

    with _step(job):
        write_clip_shards(list(job.input.rows), list(job.output.shards))


def rollup(job: Any) -> None:
    from video_pipeline.workflow.clips import rollup_task

    with _step(job):
        rollup_task(
            job.wildcards.task,
            job.input.results,
            job.input.errors,
            list(job.input.rows),
            job.output.videos,
        )


def summarize(job: Any) -> None:
    from video_pipeline.workflow.clips import run_summary

    with _step(job):
        wf = load_workflow(job.config)
        run_summary(wf, job.wildcards.task, job.input.videos, job.output.results, job.log[0])


def summary(job: Any) -> None:
    from video_pipeline.workflow.summary import write_summary

    with _step(job):
        text = write_summary(list(job.input.stats), job.output.summary)
        log.info("summary:\n%s", text)


def quality(job: Any) -> None:
    from video_pipeline.workflow.report import task_quality

    with _step(job):
        wf = load_workflow(job.config)
        flags = task_quality(wf, job.wildcards.task, job.output.quality)
        log.info("task %s: %s", job.wildcards.task, flags)


def report(job: Any) -> None:
    from video_pipeline.workflow.report import write_report

    with _step(job):
        write_report(load_workflow(job.config), job.output.index)


def demo_inputs(job: Any) -> None:
    from video_pipeline.workflow.demo import prepare

    with _step(job):
        prepare(job.output.rows, job.output.videos, job.output.model, job.params.n_videos)


def demo_text_model(job: Any) -> None:
    from video_pipeline.fixtures.tiny_text_model import build_tiny_text_model

    with _step(job):
        build_tiny_text_model(job.output.model)


def demo_whisper(job: Any) -> None:
    from video_pipeline.fixtures.tiny_whisper import build_tiny_whisper

    with _step(job):
        build_tiny_whisper(job.output.model)
