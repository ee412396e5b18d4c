"""The workflow run for real: tiny model, CPU ranks, two tasks, two shards.

One sequence of runs in one working directory, each step building on the previous
(module-scoped fixtures), so that every engine start serves several assertions:

1. target one task only, `kill -9` of Snakemake's main process alone mid-infer;
2. rerun the same target: no loss, no duplicate, the other task untouched;
3. the full run: the second task only, exactly once, logs, benchmarks, summary;
4. throughput knobs changed: nothing to do;
5. an answer-changing override of one task and a task added, together: only their
   jobs run, the changed task's from scratch;
6. one shard rerun from scratch (with 2 CPU ranks);
7. one task rerun from scratch, `kill -9` of its jobs while one finalizes its part
   (between two renames), then the rerun;
8. share_decode on: one job per shard runs every task on one decode per video.

Infer jobs run with `device: cpu` and a fake pool of GPU ids `0,1`, one per job, under
`--resources gpu=2`: two jobs run side by side and the test checks their claimed ids.
Two rows are decoded by a reader that really dies by SIGSEGV or blocks in native code
(tests/robustness/faults.py): each costs only its own sample, in every step.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO
from tests.robustness import procs
from tests.workflow.smk import jobs_run, read_records, run_snakemake, snakemake_cmd, write_yaml
from video_pipeline.fixtures.videos import write_input_jsonl

pytestmark = pytest.mark.e2e

SHARDS = ("00000", "00001")
RUN_ARGS = ("--cores", "2", "--resources", "gpu=2")
FAULTS = {"crash_000": "decode_crash", "hang_000": "decode_timeout"}  # key -> error kind


class Run:
    """The working directory, its config overlay (changed step by step) and helpers."""

    def __init__(self, workdir: Path, overlay: dict[str, Any], env: dict[str, str]) -> None:
        self.dir = workdir
        self.out = workdir / "out"
        self.overlay = overlay
        self.env = env
        self.step = 0

    def config(self) -> Path:
        self.step += 1
        return write_yaml(self.dir / f"overlay{self.step}.yaml", self.overlay)

    def snakemake(self, *args: str, targets: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        return run_snakemake(
            self.dir, [self.config()], *RUN_ARGS, *args, env=self.env, targets=targets
        )

    def status(self) -> dict[str, Any]:
        """`status --json` on the config files of the last step, as a user would run it."""
        files = [str(REPO / "configs" / "demo.yaml"), str(self.dir / f"overlay{self.step}.yaml")]
        out = subprocess.run(
            [sys.executable, "-m", "video_pipeline.cli.status", "--config", *files, "--json"],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.dir,
            check=True,
        )
        return json.loads(out.stdout)

    def results(self, task: str) -> tuple[list[dict], list[dict]]:
        res = self.out / "results"
        return read_records(res / f"{task}.jsonl"), read_records(res / f"{task}.errors.jsonl")

    def journal(self, task: str, shard: str, rank: int = 0) -> Path:
        return self.out / "work" / task / shard / f"{task}.rank{rank}.jsonl"

    def part(self, task: str, shard: str) -> Path:
        return self.out / "parts" / task / f"{shard}.jsonl"

    def mtimes(self, *tasks: str) -> dict[str, float]:
        files = [p for t in tasks for p in (self.out / "parts" / t).glob("*")]
        files += [
            p
            for t in tasks
            for p in (self.out / "results").glob(f"{t}.*")
            if not p.name.endswith(".quality.json")  # first written by the full run's summary
        ]
        return {str(p): p.stat().st_mtime_ns for p in files}

    def attempts(self) -> list[dict]:
        return [
            a
            for p in sorted((self.out / "work").glob("*/*/attempts.jsonl"))
            for a in read_records(p)
        ]


def expected_keys() -> set[str]:
    return {f"video_{i:03d}" for i in range(8)} | {"line:9", "missing_000", *FAULTS}


def assert_exactly_once(run: Run, task: str) -> dict[str, dict]:
    ok, errors = run.results(task)
    keys = [r["__key"] for r in ok + errors]
    assert len(keys) == len(set(keys)), f"{task}: duplicate keys"
    assert set(keys) == expected_keys(), f"{task}: {sorted(set(keys) ^ expected_keys())}"
    by_key = {r["__key"]: r for r in ok + errors}
    assert by_key["line:9"]["error"]["kind"] == "bad_row"
    assert by_key["missing_000"]["error"]["kind"] == "video_not_found"
    for key, kind in FAULTS.items():
        assert by_key[key]["error"]["kind"] == kind, by_key[key]["error"]
    return by_key


@pytest.fixture(scope="module")
def run(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, video_dir: Path, sm_env: dict
) -> Run:
    workdir = tmp_path_factory.mktemp("workflow")
    videos = sorted(video_dir.glob("*.mp4"))
    rows = workdir / "input.jsonl"
    write_input_jsonl(rows, videos, extra_fields=lambda i, v: {"id": v.stem})
    with rows.open("a") as f:  # line 9: not JSON; line 10: a video that does not exist
        f.write("{not json\n")
        f.write(json.dumps({"id": "missing_000", "path": str(workdir / "nope.mp4")}) + "\n")
        for key in FAULTS:  # good files whose decoder dies or hangs (VP_FAULT_* below)
            copy = workdir / f"{key}.mp4"
            copy.write_bytes(videos[0].read_bytes())
            f.write(json.dumps({"id": key, "path": str(copy)}) + "\n")
    overlay = {
        "input": str(rows),
        "outdir": "out",
        "tasks": [
            {"name": "describe", "task_params": {"prompt": "Describe this video."}},
            {
                "name": "caption",
                "task": "structured_caption",
                "sampling": {"temperature": 0.7},
                "task_params": {"fields": ["summary"]},
            },
        ],
        "device": "cpu",
        "report": False,  # the demo's report rule has its own test (test_wf_report.py)
        "gpus_per_job": 1,
        "gpu_ids": [0, 1],
        "gpu_lock_dir": str(workdir / "gpu-locks"),
        "data": {"id_field": "id", "num_workers": 1},
        "vllm": {"model": str(tiny_model)},
        "sampling": {"max_tokens": 64},  # with one request in flight: a window to kill in
        "run": {
            "max_in_flight": 1,
            "fsync_every": 1,
            "log_every": 1,
            "plugins": ["tests.robustness.faults"],
            "decode_timeout_s": 3,
        },
    }
    env = {**sm_env, "VP_FAULT_SEGV": "crash_000", "VP_FAULT_HANG": "hang_000"}
    return Run(workdir, overlay, env)


@pytest.fixture(scope="module")
def killed(run: Run) -> dict[str, Any]:
    """Step 1: run one task; SIGKILL Snakemake's main process once a shard is half done."""
    target = "out/results/describe.jsonl"
    cmd = snakemake_cmd(run.dir, [run.config()], *RUN_ARGS, targets=(target,))
    with open(run.dir / "killed.log", "w") as log:
        proc = subprocess.Popen(
            cmd, cwd=run.dir, env=run.env, stdout=log, stderr=log, start_new_session=True
        )
    partial: list[str] = []
    deadline = time.time() + 600
    while not partial:  # kill once a shard is done in part, its output not yet written
        assert proc.poll() is None, "snakemake ended before a shard was caught half done"
        assert time.time() < deadline, "no journal line within 600 s"
        for s in SHARDS:
            n = len(read_records_complete(run.journal("describe", s)))
            if n and n < rows_of_shard(run, s) and not run.part("describe", s).exists():
                partial.append(s)
        time.sleep(0.01)
    # Snakemake's main process alone, not its group: its jobs' shells are reparented
    # and live on, so only the jobs' own lifeline can end them.
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # nothing of the job survives: its script, `launch` and the ranks (torchrun puts
    # them in their own process groups) die with Snakemake, so a rerun never races
    # them on the journals
    deadline = time.time() + 10
    while live_processes_mentioning(str(run.dir)) and time.time() < deadline:
        time.sleep(0.2)
    left = live_processes_mentioning(str(run.dir))
    for pid in left:  # do not leave them to the next steps
        os.kill(pid, signal.SIGKILL)
    assert not left, f"still running 10 s after Snakemake was killed: {left}"
    journals = {s: read_records_complete(run.journal("describe", s)) for s in SHARDS}
    parts = {s: run.part("describe", s).exists() for s in SHARDS}
    return {"journals": journals, "parts": parts, "partial": partial, "status": run.status()}


def rows_of_shard(run: Run, shard: str) -> int:
    return len(read_records(run.out / "shards" / f"{shard}.jsonl"))


def live_processes_mentioning(text: str) -> list[int]:
    """Pids of processes (zombies aside) whose command line contains `text`."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if text in cmdline and state != "Z":
            pids.append(int(proc.name))
    return pids


def read_records_complete(path: Path) -> list[dict]:
    """Complete lines of a journal being written (a torn last line is skipped)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    return [json.loads(line) for line in data.split(b"\n")[:-1] if line.strip()]


@pytest.fixture(scope="module")
def one_task(run: Run, killed: dict) -> subprocess.CompletedProcess:
    """Step 2: the same target again, after the kill (Snakemake's lock must be lifted)."""
    run_snakemake(run.dir, [run.config()], "--unlock", env=run.env)
    return run.snakemake(targets=("out/results/describe.jsonl",))


def test_kill_then_rerun_loses_and_repeats_nothing(run: Run, killed: dict, one_task) -> None:
    by_key = assert_exactly_once(run, "describe")
    for shard in killed["partial"]:  # caught half done, and not finalized by the kill
        assert not killed["parts"][shard] and killed["journals"][shard]
    kept = [r for recs in killed["journals"].values() for r in recs]
    assert kept
    for rec in kept:  # what was done before the kill is in the results as it was
        assert by_key[rec["__key"]]["time"] == rec["time"]
        assert by_key[rec["__key"]]["text"] == rec["text"]
    # `status` saw what the kill left: each shard's records, and the partial ones stopped
    units = {(u["task"], u["shard"]): u for u in killed["status"]["units"]}
    for shard in SHARDS:
        unit = units["describe", shard]
        assert unit["done"] == len(killed["journals"][shard])
        assert unit["total"] == rows_of_shard(run, shard)
        if shard in killed["partial"]:
            assert unit["state"] == "stopped"
    assert all(u["state"] == "waiting" for (t, _), u in units.items() if t == "caption")
    for shard in killed["partial"]:
        last = read_records(run.out / "work" / "describe" / shard / "attempts.jsonl")[-1]
        assert sum(r["skipped_done"] for r in last["rank_stats"]) == len(killed["journals"][shard])


def test_run_one_task_only(run: Run, one_task) -> None:
    assert not (run.out / "results" / "caption.jsonl").exists()
    assert not (run.out / "work" / "caption").exists()
    assert all("caption" not in j for j in jobs_run(one_task))


@pytest.fixture(scope="module")
def full(run: Run, one_task) -> dict[str, Any]:
    """Step 3: the whole workflow; only the second task is left to do."""
    before = run.mtimes("describe")
    # No kill window needed from here on: batch (a throughput knob, it reruns nothing).
    run.overlay["run"]["max_in_flight"] = 8
    proc = run.snakemake()
    return {"proc": proc, "describe_before": before}


def test_full_run_each_key_once_errors_beside(run: Run, full: dict) -> None:
    describe = assert_exactly_once(run, "describe")
    caption = assert_exactly_once(run, "caption")
    assert run.mtimes("describe") == full["describe_before"]
    jobs = jobs_run(full["proc"])
    assert sorted(j for j in jobs if j.startswith("infer")) == [
        f"infer (task=caption, shard={s})" for s in SHARDS
    ]
    assert sum(r["status"] == "ok" for r in describe.values()) == 8
    # the tiny random model: some structured answers parse, others become parse errors
    kinds = {r["error"]["kind"] for r in caption.values() if r["status"] != "ok"}
    assert kinds <= {"bad_row", "video_not_found", "parse_error", *FAULTS.values()}
    assert {r["task"] for r in caption.values() if "task" in r} == {"structured_caption"}
    # `status` from the same config files: every unit finished, the counts the results'
    tasks = run.status()["tasks"]
    for name, by_key in (("describe", describe), ("caption", caption)):
        failed = [r for r in by_key.values() if r["status"] != "ok"]
        assert tasks[name]["states"] == {"finished": len(SHARDS)}
        assert tasks[name]["done"] == tasks[name]["total"] == len(by_key)
        assert sum(tasks[name]["errors"].values()) == len(failed)


def test_one_config_serves_every_command(run: Run, full: dict) -> None:
    """preflight, verify and export take the file given to Snakemake, as users keep it
    (one file, layered over config.yaml), narrowed with --task and --shard."""
    import pyarrow.parquet as pq
    import yaml

    from video_pipeline.workflow.targets import merge_config

    layered = merge_config(
        yaml.safe_load((REPO / "configs" / "demo.yaml").read_text()),
        yaml.safe_load((run.dir / f"overlay{run.step}.yaml").read_text()),
    )
    config = write_yaml(run.dir / "my-run.yaml", layered)

    def cli(module: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", f"video_pipeline.cli.{module}", "--config", str(config), *args],
            capture_output=True,
            text=True,
            env=run.env,
            cwd=run.dir,
            timeout=600,
        )
        assert not check or proc.returncode == 0, proc.stderr[-3000:]
        return proc

    verified = json.loads(cli("verify", "--complete", "--json").stdout)
    assert len(verified) == 2 * len(SHARDS)  # one report per job: task x shard
    assert all(not r["violations"] for r in verified), [r["violations"] for r in verified]
    by_key = assert_exactly_once(run, "caption")
    assert sum(
        r["done"] + r["failed"] for r in verified if r["task"] == "structured_caption"
    ) == len(by_key)
    one = json.loads(cli("verify", "--task", "describe", "--shard", "1", "--json").stdout)
    assert one["task"] == "describe" and one["merged"]
    out = run.dir / "describe.parquet"
    cli("export", "--task", "describe", "--format", "parquet", "--out", str(out))
    ok, _errors = run.results("describe")
    assert pq.read_table(out).num_rows == len(ok)
    pre = json.loads(cli("preflight", "--task", "describe", "--json").stdout)
    assert pre["rows"] == len(expected_keys()) and pre["task"] == "describe"
    bad = cli("verify", "--task", "nope", check=False)
    assert bad.returncode == 2 and "tasks: describe, caption" in bad.stderr


def test_logs_benchmarks_stats_and_summary(run: Run, full: dict) -> None:
    logs = run.out / "logs"
    assert (logs / "shard.log").stat().st_size > 0
    assert (logs / "summary.log").exists()
    for task in ("describe", "caption"):
        assert (logs / "merge" / f"{task}.log").exists()
        for s in SHARDS:
            assert "launch exited 0" in (logs / "infer" / task / f"{s}.log").read_text()
            bench = (run.out / "benchmarks" / "infer" / task / f"{s}.tsv").read_text()
            assert bench.startswith("s\th:m:s")
            stats = json.loads(run.part(task, s).with_suffix(".stats.json").read_text())
            assert stats["rank_stats"][-1] and stats["rank_stats"][-1][0]["task"]
    summary = (run.out / "summary.tsv").read_text().splitlines()
    assert summary[0].split("\t")[:5] == ["task", "done", "failed", "videos/s", "gen_tok/s"]
    table = {line.split("\t")[0]: line.split("\t") for line in summary[1:]}
    for task in ("describe", "caption"):
        ok, errors = run.results(task)
        assert table[task][1:3] == [str(len(ok)), str(len(errors))]
        assert float(table[task][3]) > 0 and float(table[task][4]) > 0
    printed = full["proc"].stdout + full["proc"].stderr
    assert "per-task summary" in printed and "caption" in printed.split("per-task summary")[1]


def test_two_infer_jobs_side_by_side_hold_distinct_gpu_ids(run: Run, full: dict) -> None:
    attempts = [a for a in run.attempts() if a["gpu_ids"]]
    assert all(a["cpu"] and a["source"] == "claimed" and len(a["gpu_ids"]) == 1 for a in attempts)
    side_by_side = 0
    for i, a in enumerate(attempts):
        for b in attempts[i + 1 :]:
            if a["started"] < b["ended"] and b["started"] < a["ended"]:
                side_by_side += 1
                assert a["gpu_ids"] != b["gpu_ids"], (a, b)
    assert side_by_side >= 1


def test_throughput_knobs_reuse_the_work(run: Run, full: dict) -> None:
    run.overlay["run"] = {**run.overlay["run"], "batch_size": 4, "log_every": 3}
    run.overlay["data"] = {**run.overlay["data"], "num_workers": 0}
    proc = run.snakemake("-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr, jobs_run(proc)


@pytest.fixture(scope="module")
def changed(run: Run, full: dict) -> dict[str, Any]:
    """Step 5: a sampling override of one task changes its answers, and a third task
    joins the run, in one invocation: each is judged by the jobs it alone makes run."""
    before = run.mtimes("describe")
    old_fp = {
        json.loads(run.part("caption", s).with_suffix(".stats.json").read_text())["fingerprint"]
        for s in SHARDS
    }
    run.overlay["tasks"][1]["sampling"] = {"temperature": 0.7, "max_tokens": 20}
    run.overlay["tasks"].append(
        {"name": "describe_short", "task": "describe", "task_params": {"prompt": "Short?"}}
    )
    return {"proc": run.snakemake(), "describe_before": before, "old_fp": old_fp}


def changed_jobs(proc: subprocess.CompletedProcess, task: str) -> list[str]:
    """The infer and merge jobs of `task` that ran (`task=describe` is not `describe_short`)."""
    jobs = [j for j in jobs_run(proc) if j.startswith(("infer", "merge"))]
    return sorted(j for j in jobs if re.search(rf"task={task}[,)]", j))


def test_changed_answers_rerun_the_task_from_scratch(run: Run, changed: dict) -> None:
    assert changed_jobs(changed["proc"], "caption") == [
        *[f"infer (task=caption, shard={s})" for s in SHARDS],
        "merge (task=caption)",
    ]
    assert changed_jobs(changed["proc"], "describe") == []
    assert run.mtimes("describe") == changed["describe_before"]
    caption = assert_exactly_once(run, "caption")
    fps = {r["fingerprint"] for r in caption.values() if "fingerprint" in r}
    assert len(fps) == 1 and not fps & changed["old_fp"]
    for s in SHARDS:  # the old answers were set aside, not mixed in nor deleted
        assert list((run.out / "work" / "caption" / s).glob("caption.stale/*/caption.rank0.jsonl"))


def test_add_a_task_without_redoing_the_others(run: Run, changed: dict) -> None:
    jobs = [j for j in jobs_run(changed["proc"]) if j.startswith(("infer", "merge"))]
    assert changed_jobs(changed["proc"], "describe_short") == [
        *[f"infer (task=describe_short, shard={s})" for s in SHARDS],
        "merge (task=describe_short)",
    ]
    assert len(jobs) == 6  # caption's and describe_short's, nothing else
    assert_exactly_once(run, "describe_short")
    assert "describe_short" in (run.out / "summary.tsv").read_text()


@pytest.fixture(scope="module")
def shard_rerun(run: Run, changed: dict) -> dict[str, Any]:
    """Step 6: one shard of one task from scratch, with two CPU ranks this time."""
    before = run.mtimes("caption", "describe_short")
    old = {r["__key"]: r for r in read_records(run.part("describe", "00001"))}
    other = run.part("describe", "00000").stat().st_mtime_ns
    proc = run.snakemake(
        "--forcerun",
        "out/parts/describe/00001.jsonl",
        "--config",
        "fresh=true",
        "gpus_per_job=0",
        "cpu_ranks=2",
    )
    return {"proc": proc, "before": before, "old": old, "other": other}


def test_rerun_one_shard_from_scratch(run: Run, shard_rerun: dict) -> None:
    jobs = jobs_run(shard_rerun["proc"])
    assert sorted(j for j in jobs if j.startswith(("infer", "merge"))) == [
        "infer (task=describe, shard=00001)",
        "merge (task=describe)",
    ]
    assert run.part("describe", "00000").stat().st_mtime_ns == shard_rerun["other"]
    assert run.mtimes("caption", "describe_short") == shard_rerun["before"]
    by_key = assert_exactly_once(run, "describe")
    new = {r["__key"]: r for r in read_records(run.part("describe", "00001"))}
    assert set(new) == set(shard_rerun["old"])
    assert all(new[k]["time"] > shard_rerun["old"][k]["time"] for k in new)
    assert {by_key[k]["rank"] for k in new} == {0, 1}
    last = read_records(run.out / "work" / "describe" / "00001" / "attempts.jsonl")[-1]
    assert (last["fresh"], last["cpu"], last["ranks"], last["gpu_ids"]) == (True, True, 2, [])


@pytest.fixture(scope="module")
def task_fresh(run: Run, shard_rerun: dict) -> dict[str, Any]:
    """Step 7: one whole task from scratch; the README's command, glob included. Its
    jobs are killed (`kill -9` of Snakemake's process group) while one of them publishes
    its part, right after the part's results are renamed into place; then the README's
    rerun after a kill."""
    before = run.mtimes("describe", "caption")
    old = {r["__key"]: r["time"] for r in run.results("describe_short")[0]}
    parts = sorted(
        str(p.relative_to(run.dir)) for p in (run.out / "parts" / "describe_short").glob("*")
    )
    marker = run.dir / "renamed"
    target = "parts/describe_short/00000.jsonl"
    env = {**run.env, **procs.pause_after_rename(target, marker)}
    cmd = snakemake_cmd(
        run.dir, [run.config()], *RUN_ARGS, "--forcerun", *parts, "--config", "fresh=true"
    )
    with open(run.dir / "finalize-killed.log", "w") as log:
        proc = subprocess.Popen(
            cmd, cwd=run.dir, env=env, stdout=log, stderr=log, start_new_session=True
        )
    deadline = time.time() + 600
    while not marker.exists():
        assert proc.poll() is None, (run.dir / "finalize-killed.log").read_text()[-4000:]
        assert time.time() < deadline, "no part was published within 600 s"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    part = run.out / "parts" / "describe_short"
    between = {
        "results_new": all(
            r["time"] > old.get(r["__key"], 0) for r in read_records(part / "00000.jsonl")
        ),
        "manifest": (part / "00000.stats.json").exists(),
    }
    run_snakemake(run.dir, [run.config()], "--unlock", env=run.env)
    proc = run.snakemake("--rerun-incomplete")
    return {"proc": proc, "before": before, "old": old, "between": between}


def test_rerun_one_task_from_scratch(run: Run, task_fresh: dict) -> None:
    # Killed between the part's renames: its new results stood there without the
    # manifest that vouches for the set, so nothing downstream could take it as done.
    assert task_fresh["between"] == {"results_new": True, "manifest": False}
    jobs = jobs_run(task_fresh["proc"])
    assert "infer (task=describe_short, shard=00000)" in jobs  # its part made again
    assert not [j for j in jobs if j.startswith("infer") and "describe_short" not in j]
    assert run.mtimes("describe", "caption") == task_fresh["before"]
    by_key = assert_exactly_once(run, "describe_short")
    assert all(by_key[k]["time"] > t for k, t in task_fresh["old"].items())
    # The rerun resumed what the killed fresh start had done, it did not start over.
    last = read_records(run.out / "work" / "describe_short" / "00000" / "attempts.jsonl")[-1]
    assert not last["fresh"] and sum(r["skipped_done"] for r in last["rank_stats"]) > 0


@pytest.fixture(scope="module")
def shared(run: Run, task_fresh: dict) -> dict[str, Any]:
    """Step 8: share_decode on, and one task's answers changed: one job per shard runs
    every task on one decode per video; only the changed task is computed again."""
    old = {t: {r["__key"]: r["time"] for r in run.results(t)[0]} for t in run_tasks(run)}
    run.overlay["share_decode"] = True
    run.overlay["tasks"][1]["sampling"] = {"temperature": 0.5, "max_tokens": 20}
    proc = run.snakemake()
    return {"proc": proc, "old": old}


def run_tasks(run: Run) -> list[str]:
    return [t["name"] for t in run.overlay["tasks"]]


def test_share_decode_runs_every_task_in_one_job_per_shard(run: Run, shared: dict) -> None:
    jobs = jobs_run(shared["proc"])
    assert sorted(j for j in jobs if j.startswith("infer")) == [
        f"infer (shard={s})" for s in SHARDS
    ]
    for task in run_tasks(run):
        by_key = assert_exactly_once(run, task)
        ok = {k: r for k, r in by_key.items() if r["status"] == "ok"}
        if task == "caption":  # changed: every answer is new
            assert all(ok[k]["time"] > t for k, t in shared["old"][task].items() if k in ok)
        else:  # unchanged: resumed from the journals, nothing computed again
            assert {k: r["time"] for k, r in ok.items()} == shared["old"][task]
    for s in SHARDS:
        stats = {
            t: json.loads((run.out / "work" / t / s / f"{t}.rank0.stats.json").read_text())
            for t in run_tasks(run)
        }
        assert stats["caption"]["todo"] == stats["caption"]["decodes"] > 0
        assert stats["describe"]["todo"] == stats["describe_short"]["todo"] == 0
        others = sorted(Path(p).name for p in stats["caption"]["shared_with"])
        assert others == ["describe.jsonl", "describe_short.jsonl"]
    assert (run.out / "logs" / "infer" / "_shared" / "00000.log").exists()
