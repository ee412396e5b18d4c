"""One infer job: a (task, shard) pair run by `launch` on the job's own GPUs or CPU ranks.

A job on G GPUs runs G / vllm.tensor_parallel_size ranks, each engine on its own GPUs.

With `share_decode`, one job per shard runs every task: each video is decoded once.

The job writes its `launch` config into its work directory, holds its GPUs (claimed,
or as SLURM gave them), runs torchrun through `launch`, and only when every rank has
finished writes the declared output: the shard's records, merged from the journals,
each key once, by temp file and rename. A job killed at any point leaves the journals,
and the next run of the same job resumes from them.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import video_pipeline
from video_pipeline.cli.launch import CONFIG_ERROR, LOCKED
from video_pipeline.cli.lifeline import die_with_parent
from video_pipeline.config import Config, dump_config
from video_pipeline.fingerprint import fingerprint
from video_pipeline.io.atomic import atomic_write
from video_pipeline.io.journal import stats_path
from video_pipeline.io.jsonl import dumps_line
from video_pipeline.merge import merge_outputs
from video_pipeline.runner.lock import OutputLock
from video_pipeline.runner.members import MEMBERS_ENV
from video_pipeline.workflow.gpus import Devices, job_devices, member_dirs
from video_pipeline.workflow.settings import SHARED, Workflow
from video_pipeline.workflow.stats import part_stats

log = logging.getLogger("video_pipeline")


class InferError(RuntimeError):
    """The ranks failed or left keys unfinished; the journals are kept for a rerun."""


def launch_command(config_path: str, devices: Devices) -> list[str]:
    cmd = [sys.executable, "-m", "video_pipeline.cli.launch", "--config", config_path]
    if devices.cpu:
        return [*cmd, "--nproc", str(devices.ranks)]
    return [*cmd, "--gpus", ",".join(devices.gpu_ids)]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(video_pipeline.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _write_config(cfg: Config, path: str) -> None:
    atomic_write(path, dump_config(cfg))


def _rank_stats(cfg: Config, ranks: int, since: float) -> list[dict]:
    out = []
    for r in range(ranks):
        p = stats_path(cfg.data.output_jsonl, r)
        if p.exists():
            stats = json.loads(p.read_text())
            if stats.get("started_at", 0) >= since:
                out.append(stats)
    return out


def run_infer(wf: Workflow, tasks: list[str], shard: str, log_path: str) -> None:
    """Run one shard of one task, or of all `tasks` on shared decodes, to the finalized
    outputs; raises InferError on failure."""
    cfgs = {t: wf.shard_config(t, shard) for t in tasks}
    label = f"{'+'.join(tasks)}/{shard}"
    if len(tasks) == 1:
        launch_cfg, config_path = cfgs[tasks[0]], wf.layout.job_config(tasks[0], shard)
    else:
        launch_cfg, config_path = wf.group_config(shard), wf.layout.job_config(SHARED, shard)
    attempt = _launch(wf, launch_cfg, config_path, label, log_path)
    for task, cfg in cfgs.items():
        shared = [t for t in tasks if t != task]
        _record(attempt, wf.layout.attempts(task, shard), wf.fingerprint(task), cfg, shared)
    rc = attempt["rc"]
    if rc == LOCKED:
        raise InferError(f"job {label}: another run is writing this shard's journals")
    if rc == CONFIG_ERROR:  # refused before any rank started: a rerun changes nothing
        raise InferError(
            f"job {label}: launch refused the job's config (its log says why: {log_path}); "
            "fix the config, then rerun"
        )
    if rc != 0:
        raise InferError(f"job {label}: ranks exited with code {rc}; rerun to resume")
    for task, cfg in cfgs.items():
        attempts, fp = wf.layout.attempts(task, shard), wf.fingerprint(task)
        with OutputLock(cfg.data.output_jsonl):
            report = merge_outputs(
                cfg,
                wf.layout.part(task, shard),
                # the part's stats are its manifest, written after its records
                manifest=Path(wf.layout.part(task, shard, ".stats.json")),
                summary=lambda report, a=attempts, f=fp: part_stats(report, a, f),
                rollup=False,  # the roll-up is a rule of its own, over the whole task
                strips_out=Path(wf.layout.part_strips(task, shard)),
            )
        if not report.complete:
            raise InferError(
                f"job {task}/{shard}: {report.pending} key(s) have no record after all ranks "
                "finished"
            )
        log.info("job %s/%s: %s", task, shard, report.summary())


def launch_attempt(
    wf: Workflow, cfg: Config, config_path: str, label: str, log_path: str, attempts: str
) -> int:
    """`launch` a single-task config on the job's devices, its attempt appended to
    `attempts`; returns launch's exit status."""
    attempt = _launch(wf, cfg, config_path, label, log_path)
    _record(attempt, attempts, fingerprint(cfg), cfg, [])
    if attempt["rc"] == LOCKED:
        raise InferError(f"job {label}: another run is writing its journals")
    return attempt["rc"]


def _record(attempt: dict, path: str, fp: str, cfg: Config, shared_with: list[str]) -> None:
    record = {
        **attempt,
        "fingerprint": fp,
        "fresh": not cfg.data.resume,
        "shared_with": shared_with,
        "rank_stats": _rank_stats(cfg, attempt["ranks"], attempt["started"]),
    }
    with open(path, "ab") as f:
        f.write(dumps_line(record))


def _launch(wf: Workflow, cfg: Config, config_path: str, label: str, log_path: str) -> dict:
    """Hold the job's devices while `launch` runs; returns what the attempt was."""
    s = wf.settings
    config_path = os.path.abspath(config_path)
    _write_config(cfg, config_path)
    with job_devices(
        s.gpus_per_job,
        s.cpu_ranks,
        s.device,
        s.pool,
        s.gpu_lock_dir,
        s.gpu_claim_timeout_s,
        label,
        tensor_parallel_size=cfg.vllm.tensor_parallel_size,
    ) as devices:
        log.info("job %s: %s, fresh=%s", label, devices.describe(), s.fresh)
        cmd = launch_command(config_path, devices)
        log.info("running: %s", " ".join(cmd))
        for h in logging.getLogger().handlers:
            h.flush()
        started = time.time()
        env = _env()
        dirs = member_dirs(devices.gpu_ids, s.gpu_lock_dir) if devices.source == "claimed" else []
        env[MEMBERS_ENV] = os.pathsep.join(map(str, dirs))  # the ranks register there
        with open(log_path, "a") as out:
            rc = subprocess.call(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=die_with_parent
            )
        ended = time.time()
    log.info("job %s: launch exited %d after %.1fs", label, rc, ended - started)
    return {
        "started": started,
        "ended": ended,
        "rc": rc,
        "gpu_ids": devices.gpu_ids,
        "source": devices.source,
        "cpu": devices.cpu,
        "ranks": devices.ranks,
    }
