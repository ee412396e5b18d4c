"""`status` on a run's files: workflow and launch configs, each state a unit can be in.

The journals, shards, locks and parts are written as the runner and the workflow write
them (the record builders, the fingerprint of each unit's own config), so what is read
is what a real run leaves; the e2e workflow test checks `status` on a real run too.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO
from video_pipeline.config import ConfigError
from video_pipeline.fingerprint import fingerprint
from video_pipeline.io.journal import journal_path
from video_pipeline.io.record import Record, RecordError
from video_pipeline.runner.lock import lock_path
from video_pipeline.runner.records import error_record
from video_pipeline.status import run_status
from video_pipeline.workflow.targets import Unit, load_run

ROWS = 6  # per shard


def _write(path: Path, lines: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))


def _journal(unit: Unit, oks: int, errors: dict[str, int], rank: int = 0) -> None:
    fp = fingerprint(unit.config)
    recs = [Record.new(f"{unit.shard}-ok{i}", "ok", fp, unit.task, {}, rank) for i in range(oks)]
    for kind, n in errors.items():
        recs += [
            error_record(f"{unit.shard}-{kind}{i}", fp, unit.task, {}, rank, RecordError(kind, ""))
            for i in range(n)
        ]
    stale = Record.new("old-answer", "ok", "0123abcd", unit.task, {}, rank)  # another config
    _write(journal_path(unit.config.data.output_jsonl, rank), [r.to_dict() for r in [stale, *recs]])


@pytest.fixture
def workflow_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # outdir and input are relative, as users write them
    Path("in.jsonl").write_text("".join(json.dumps({"path": f"v{i}.mp4"}) + "\n" for i in range(3)))
    config = {
        "input": "in.jsonl",
        "outdir": "out",
        "tasks": [{"name": "describe"}, {"name": "caption", "task": "structured_caption"}],
        "num_shards": 2,
        "gpus_per_job": 0,
        "vllm": {"model": str(tmp_path / "model")},
    }
    path = tmp_path / "my-run.yaml"
    path.write_text(yaml.safe_dump(config))
    run = load_run(path)
    for unit in run.units:  # the shard jobs have run
        _write(Path(unit.config.data.input_jsonl), [{"path": f"x{i}"} for i in range(ROWS)])
    return path


def test_each_state_and_count(workflow_run: Path) -> None:
    run = load_run(workflow_run)
    assert run.kind == "workflow" and run.tasks == ["describe", "caption"]
    units = {(u.task, u.shard): u for u in run.units}
    assert len(units) == 4
    # describe/00000: finished; describe/00001: running (our own pid holds the lock)
    done = units["describe", "00000"]
    _journal(done, 5, {"decode_error": 1})
    Path(done.output).parent.mkdir(parents=True, exist_ok=True)
    Path(done.output).write_text("")
    Path(done.output.replace(".jsonl", ".stats.json")).write_text("{}")
    running = units["describe", "00001"]
    _journal(running, 2, {"video_not_found": 1}, rank=1)
    note = {"pid": os.getpid(), "host": socket.gethostname()}
    lock_path(running.config.data.output_jsonl).write_text(json.dumps(note))
    # caption/00000: killed mid-way (journals, no lock holder alive); caption/00001: waiting
    stopped = units["caption", "00000"]
    _journal(stopped, 1, {})
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    lock_path(stopped.config.data.output_jsonl).write_text(
        json.dumps({"pid": int(dead.stdout), "host": socket.gethostname()})
    )

    got = {(s.task, s.shard): s for s in run_status(run)}
    assert got["describe", "00000"].state == "finished"
    assert (got["describe", "00000"].ok, got["describe", "00000"].errors) == (
        5,
        {"decode_error": 1},
    )
    r = got["describe", "00001"]
    assert (r.state, r.done, r.total, r.errors) == ("running", 3, ROWS, {"video_not_found": 1})
    assert r.rate and r.rate > 0 and r.eta_s is not None  # records written just now
    assert r.writer == f"pid {os.getpid()} on {socket.gethostname()}"
    assert got["caption", "00000"].state == "stopped" and got["caption", "00000"].done == 1
    assert got["caption", "00001"].state == "waiting" and got["caption", "00001"].done == 0
    # a job whose journals stopped growing while it holds the lock
    stale = time.time() - 3600
    os.utime(journal_path(running.config.data.output_jsonl, 1), (stale, stale))
    assert {(s.task, s.shard): s for s in run_status(run, stall_s=60)}[
        "describe", "00001"
    ].state == "stalled"


def test_cli_json_narrows_and_totals(workflow_run: Path) -> None:
    run = load_run(workflow_run)
    for unit in run.units:
        if unit.task == "caption":
            _journal(unit, 2, {"parse_error": 1})
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "video_pipeline.cli.status",
            "--config",
            str(workflow_run),
            "--task",
            "caption",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=workflow_run.parent,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    report = json.loads(out.stdout)
    assert list(report["tasks"]) == ["caption"]
    caption = report["tasks"]["caption"]
    assert (caption["shards"], caption["total"], caption["done"]) == (2, 2 * ROWS, 6)
    assert caption["errors"] == {"parse_error": 2}
    assert {u["state"] for u in report["units"]} == {"stopped"}
    text = subprocess.run(
        [sys.executable, "-m", "video_pipeline.cli.status", "--config", str(workflow_run)],
        capture_output=True,
        text=True,
        check=True,
        cwd=workflow_run.parent,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ).stdout
    assert "rerun the same command to resume" in text and "parse_error=1" in text


def test_launch_config_and_bad_narrowing(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(json.dumps({"path": "a.mp4"}) + "\n")
    cfg = {
        "data": {
            "input_jsonl": str(tmp_path / "in.jsonl"),
            "output_jsonl": str(tmp_path / "out.{task}.jsonl"),
        },
        "vllm": {"model": str(tmp_path / "model")},
        "tasks": [{"name": "describe"}, {"name": "short", "task": "describe"}],
    }
    path = tmp_path / "launch.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run = load_run(path)
    assert run.kind == "launch" and run.tasks == ["describe", "short"]
    short = run.units[1]
    _journal(short, 1, {})
    got = run_status(run)
    assert [(s.task, s.state, s.done, s.total) for s in got] == [
        ("describe", "waiting", 0, 1),
        ("short", "stopped", 1, 1),
    ]
    with pytest.raises(ConfigError, match="no shards"):
        load_run(path, shard="0")
    with pytest.raises(ConfigError, match="tasks: describe, short"):
        load_run(path, task="nope")
