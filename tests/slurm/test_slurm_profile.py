"""The shipped SLURM profile on a real one-node SLURM with accounting (tools/slurm/up.sh).

One run of the demo-shaped DAG (two tasks x two shards) goes through sbatch via
Snakemake's official executor plugin, with the profile's own status command, requeue
flag and retries. While it runs, SLURM ends four infer jobs the ways clusters do:

- describe/00000: `scancel` (accounting records "CANCELLED by <uid>"),
- describe/00001: `scancel --signal=KILL`,
- describe_long/00000: runs past its time limit (TIMEOUT): once it is over a minute in,
  its limit is cut to 1 minute, as an admin does (a job sent with a 1-minute `runtime`
  would, on a loaded machine, end as FAILED before its srun step even starts),
- describe_long/00001: runs in a preemptible partition and is preempted by a job in a
  higher-priority one (SLURM requeues it).

Snakemake must notice each end, have the job run again (it resumes from its journals)
and finish on its own with every key exactly once. Jobs that ran at the same time on the
node's two GPUs must have held different ids.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import REPO, cli_env, read_jsonl
from tests.workflow.smk import snakemake_cmd, write_yaml
from video_pipeline.fixtures.videos import make_video_set, write_input_jsonl

pytestmark = [pytest.mark.slurm, pytest.mark.e2e]

N_VIDEOS = 8
TASKS = ("describe", "describe_long")
CANCEL, KILL = ("describe", "00000"), ("describe", "00001")
TIMEOUT, PREEMPT = ("describe_long", "00000"), ("describe_long", "00001")
# A run waits on a job it never saw end when SLURM has had nothing of it queued or
# running for longer than the plugin's longest gap between status checks (180 s).
IDLE_LIMIT_S = 240
RUN_LIMIT_S = 2700  # a last guard; a healthy run takes minutes
SINCE = time.strftime("%Y-%m-%dT%H:%M:%S")
# One GPU and one CPU in the higher-priority partition, for a second.
URGENT_JOB = ["sbatch", "--parsable", "-p", "urgent", "--gpus=1", "--mem=100", "-t", "1"]
URGENT_JOB += ["-o", "/dev/null", "--wrap", "sleep 1"]


def _sh(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout


def _cluster_ready() -> bool:
    """SLURM answers, with accounting, and has the partitions the preemption needs."""
    try:
        _sh("sacct", "-n", "-X", "-S", "now")
        parts = set(_sh("sinfo", "-h", "-o", "%R").split())
    except (OSError, subprocess.SubprocessError):
        return False
    return {"debug", "preempt-requeue", "urgent"} <= parts


def _min_job_age() -> int:
    m = re.search(r"^MinJobAge\s*=\s*(\d+)", _sh("scontrol", "show", "config"), re.M)
    return int(m.group(1)) if m else 0


def _states(job_id: str) -> list[str]:
    """Every state accounting recorded for a job, each run of a requeued job included
    (jobs of this session only: a cluster restarted from a clean slate reuses job ids)."""
    out = _sh("sacct", "-n", "-X", "-D", "-P", "-S", SINCE, "-j", job_id, "-o", "State")
    return [s.strip() for s in out.splitlines() if s.strip()]


def _running_infer() -> dict[tuple[str, str], str]:
    """(task, shard) -> SLURM job id of the infer jobs running now (from the comment
    the plugin gives each job: rule_infer_wildcards_<task>_<shard>)."""
    jobs = {}
    for line in _sh("squeue", "-h", "-t", "RUNNING", "-o", "%i|%k").splitlines():
        job_id, comment = line.split("|", 1)
        if comment.startswith("rule_infer_wildcards_"):
            task, shard = comment.removeprefix("rule_infer_wildcards_").rsplit("_", 1)
            jobs[(task, shard)] = job_id
    return jobs


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory, tiny_model):
    """The run, with the SLURM job ids and journal counts seen when each job was ended."""
    if not _cluster_ready():
        if os.geteuid() != 0:
            pytest.skip("no SLURM with accounting reachable, and not root to start one")
        up = [str(REPO / "tools" / "slurm" / "up.sh"), "--accounting"]
        subprocess.run(up, check=True, timeout=600)
        assert _cluster_ready(), "tools/slurm/up.sh did not bring up SLURM with accounting"
    # Below it the plugin silently uses sacct, which never matches "CANCELLED by <uid>".
    assert _min_job_age() >= 210, "the profile needs MinJobAge >= 210 s (see docs/slurm.md)"
    work = tmp_path_factory.mktemp("slurm")
    videos = make_video_set(work / "videos", N_VIDEOS, seconds=2.0, fps=8)
    cfg = write_yaml(
        work / "run.yaml",
        {
            "input": str(write_input_jsonl(work / "input.jsonl", videos)),
            "outdir": str(work / "out"),
            # Each engine step is slowed (below), so a job's length is set by its tokens:
            # describe jobs infer for about 30 s, describe_long ones for about 100 s, long
            # enough for the time limit and the preemption to land mid-run.
            "tasks": [
                {"name": "describe", "sampling": {"max_tokens": 24}},
                {"name": "describe_long", "task": "describe", "sampling": {"max_tokens": 96}},
            ],
            "num_shards": 2,
            "gpus_per_job": 1,  # one SLURM GPU per infer job
            "device": "cpu",  # fake GPUs: the ranks compute on CPU with SLURM's ids
            "report": False,  # the report rule has its own test (tests/workflow)
            "vllm": {"model": str(tiny_model)},
            "run": {"max_in_flight": 1, "fsync_every": 1, "plugins": ["tests.robustness.faults"]},
        },
    )
    env = cli_env()
    env.pop("CUDA_VISIBLE_DEVICES", None)
    env.update(
        VLLM_ENABLE_V1_MULTIPROCESSING="0", VLLM_CPU_KVCACHE_SPACE="1", VP_FAULT_STEP_SLEEP="0.25"
    )
    long_00001 = "wildcards.task == 'describe_long' and wildcards.shard == '00001'"
    cmd = snakemake_cmd(
        work,
        [cfg],
        "--profile",
        str(REPO / "profiles" / "slurm"),
        # Test-sized jobs. Status command, requeue and retries stay the profile's; only
        # the plugin's status checks start sooner (it still adds 10 s per quiet check).
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--default-resources",
        "slurm_partition=debug",
        "runtime=30",
        "mem_mb=1500",
        "cpus_per_task=1",
        "--set-resources",
        "infer:mem_mb=5000",
        "infer:cpus_per_task=1",
        "infer:runtime=30",
        f"infer:slurm_partition='preempt-requeue' if {long_00001} else 'debug'",
    )
    watch = Watch(cmd, work, env)
    try:
        seen = _end_jobs_mid_run(watch, work / "out")
        log = watch.wait()
    finally:
        watch.stop()
    return {"out": work / "out", "videos": sorted(map(str, videos)), "log": log, **seen}


class Watch:
    """Runs Snakemake and fails the test, instead of blocking it, when the run waits on a
    job SLURM has ended: Snakemake alive, yet nothing of ours queued or running."""

    def __init__(self, cmd: list[str], work: Path, env: dict[str, str]) -> None:
        self.log_path = work / "snakemake.log"
        with open(self.log_path, "w") as log:  # a file: a full pipe would stall Snakemake
            self.proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=log)
        self.t0 = self.active = time.time()

    def log(self) -> str:
        return self.log_path.read_text()

    def check(self) -> bool:
        """True while Snakemake runs; fails the test when it hangs."""
        now = time.time()
        if self.proc.poll() is not None:
            return False
        if _sh("squeue", "-h", "-t", "PD,R,CF,CG,S", "-o", "%i").strip():
            self.active = now
        elif now - self.active > IDLE_LIMIT_S:
            self._fail(f"nothing queued or running in SLURM for {IDLE_LIMIT_S}s")
        if now - self.t0 > RUN_LIMIT_S:
            self._fail(f"still running after {RUN_LIMIT_S}s")
        return True

    def wait(self) -> str:
        while self.check():
            time.sleep(2)
        print(f"SLURM run: {time.time() - self.t0:.0f}s")
        assert self.proc.returncode == 0, self.log()[-8000:]
        return self.log()

    def stop(self) -> None:
        """End Snakemake if it still runs, and the jobs it left in SLURM."""
        if self.proc.poll() is not None:
            return
        # SIGTERM lets Snakemake finish its running jobs, which a hung run never sees end.
        self.proc.kill()
        self.proc.wait()
        for line in _sh("squeue", "-h", "-o", "%i|%k").splitlines():
            job_id, comment = line.split("|", 1)
            if comment.startswith("rule_"):  # the plugin's jobs
                subprocess.run(["scancel", job_id], check=False)

    def _fail(self, why: str) -> None:
        self.stop()
        pytest.fail(f"Snakemake waits on a job that ended ({why}):\n{self.log()[-8000:]}")


def _keys(out: Path, task: str, shard: str = "*") -> list[str]:
    return [
        r["__key"]
        for p in sorted(out.glob(f"work/{task}/{shard}/{task}.rank*.jsonl"))
        for r in read_jsonl(p)
    ]


def _end_jobs_mid_run(watch: Watch, out: Path) -> dict:
    """End the first attempts of the four infer jobs once each has journaled something;
    returns their job ids and the keys each had journaled when SLURM ended it."""
    ender = Ender(out)
    while not ender.done():
        if not watch.check():
            pytest.fail(f"Snakemake exited before the jobs were ended ({ender.at}):\n{watch.log()}")
        ender.step()
        time.sleep(0.5)
    return {"ids": ender.ids, "at": ender.at}


class Ender:
    """Ends infer jobs the ways clusters do: cancel, kill, preempt, time limit."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.ids: dict[tuple[str, str], str] = {}  # the first attempt of each job
        self.started: dict[str, float] = {}
        self.at: dict[str, int] = {}  # keys journaled when SLURM ended it
        self.urgent: str | None = None  # the preempting job
        self.lifted = False

    def done(self) -> bool:
        return self.lifted and {"cancel", "kill", "preempt", "timeout"} <= self.at.keys()

    def keys(self, job: tuple[str, str]) -> int:
        return len(_keys(self.out, *job))

    def step(self) -> None:
        running = _running_infer()
        for job, job_id in running.items():
            self.ids.setdefault(job, job_id)
            self.started.setdefault(job_id, time.time())
        # First attempts only, once they have journaled something: the end lands mid-run.
        ready = {j for j, i in running.items() if i == self.ids[j] and self.keys(j)}
        for job, name, cmd in ((CANCEL, "cancel", []), (KILL, "kill", ["--signal=KILL"])):
            if name not in self.at and job in ready:
                subprocess.run(["scancel", *cmd, self.ids[job]], check=True)
                self.at[name] = self.keys(job)
        self.preempt(ready, busy=len(running) == 2)
        self.time_limit(ready)

    def preempt(self, ready: set[tuple[str, str]], busy: bool) -> None:
        """One GPU in 'urgent' while both are busy: only the preemptible job can make
        room. If a job ended meanwhile and freed one, try again after the urgent job."""
        if "preempt" in self.at:
            if not self.lifted:
                self.lifted = _lift_requeue_hold(self.ids[PREEMPT])
        elif self.urgent is None:
            if PREEMPT in ready and busy:
                self.urgent = _sh(*URGENT_JOB).strip()
        elif "PREEMPTED" in _states(self.ids[PREEMPT]):
            self.at["preempt"] = self.keys(PREEMPT)
        elif _states(self.urgent)[-1:] == ["COMPLETED"]:
            self.urgent = None

    def time_limit(self, ready: set[tuple[str, str]]) -> None:
        """A job over a minute in, its limit cut to 1 minute: SLURM ends it at its next
        time-limit check."""
        job_id = self.ids.get(TIMEOUT)
        if "limit" not in self.at:
            if TIMEOUT in ready and time.time() - self.started[job_id] > 65:
                subprocess.run(["scontrol", "update", f"JobId={job_id}", "TimeLimit=1"], check=True)
                self.at["limit"] = self.keys(TIMEOUT)
        elif "timeout" not in self.at and _states(job_id) == ["TIMEOUT"]:
            self.at["timeout"] = self.keys(TIMEOUT)


def _lift_requeue_hold(job_id: str) -> bool:
    """SLURM holds a requeued job for two minutes before it may start again; lifting the
    hold only saves test time (Snakemake waits for the job either way)."""
    if _sh("squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T").strip() != "PENDING":
        return False
    subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True)
    return True


def _shard_size(out: Path, shard: str) -> int:
    return len(read_jsonl(out / "shards" / f"{shard}.jsonl"))


def test_every_key_exactly_once(slurm_run):
    out = slurm_run["out"]
    for task in TASKS:
        keys = _keys(out, task)
        assert len(keys) == len(set(keys)) == N_VIDEOS, f"{task}: lost or repeated work"
        results = read_jsonl(out / "results" / f"{task}.jsonl")
        errors = read_jsonl(out / "results" / f"{task}.errors.jsonl")
        assert sorted(r["__key"] for r in results + errors) == slurm_run["videos"]


def test_jobs_were_ended_mid_run_the_ways_clusters_do(slurm_run):
    ids, at, out = slurm_run["ids"], slurm_run["at"], slurm_run["out"]
    ended = {"cancel": CANCEL, "kill": KILL, "preempt": PREEMPT, "timeout": TIMEOUT}
    for name, (_, shard) in ended.items():
        assert 0 < at[name] < _shard_size(out, shard), (name, at)
    # What accounting recorded: the states the plugin's sacct path does not match (a
    # cancel) or leaves to SLURM (a preemption), and the time limit.
    assert _states(ids[CANCEL])[0].startswith("CANCELLED by "), _states(ids[CANCEL])
    assert _states(ids[KILL])[0].startswith("CANCELLED by "), _states(ids[KILL])
    assert _states(ids[TIMEOUT]) == ["TIMEOUT"]
    assert _states(ids[PREEMPT]) == ["PREEMPTED", "COMPLETED"], "requeued by SLURM"


def test_each_ended_job_ran_again_and_resumed(slurm_run):
    out = slurm_run["out"]
    for task, shard in (CANCEL, KILL, TIMEOUT, PREEMPT):
        # Only the attempt that finished records itself; it resumed from the journal
        # the ended attempt left, so no key was journaled twice (checked above).
        rows = read_jsonl(out / "work" / task / shard / "attempts.jsonl")
        assert [r["rc"] for r in rows] == [0], (task, shard, rows)
    assert "SLURM status is: 'CANCELLED'" in slurm_run["log"]
    assert "SLURM status is: 'TIMEOUT'" in slurm_run["log"]
    assert not _sh("squeue", "-h", "-o", "%i"), "a SLURM job is left over after the run"


def test_jobs_running_at_the_same_time_held_different_gpus(slurm_run):
    attempts = [r for p in slurm_run["out"].glob("work/*/*/attempts.jsonl") for r in read_jsonl(p)]
    assert len(attempts) == 4 and all(a["source"] == "slurm" for a in attempts), attempts
    assert all(len(a["gpu_ids"]) == 1 and a["gpu_ids"][0] in {"0", "1"} for a in attempts)
    overlapping = [
        (a, b)
        for a, b in itertools.combinations(attempts, 2)
        if max(a["started"], b["started"]) < min(a["ended"], b["ended"])
    ]
    assert overlapping, f"no two infer jobs ran at the same time: {attempts}"
    for a, b in overlapping:
        assert a["gpu_ids"] != b["gpu_ids"], f"jobs running at the same time shared a GPU: {a} {b}"
