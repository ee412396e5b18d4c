"""One writer per output: a second writer is refused by name; a dead one's lock is taken."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO, cli_env, demo_config, run_cli, write_config
from video_pipeline.runner.lock import LockHeld, OutputLock, lock_path

HOLD = (
    "import sys, time; from video_pipeline.runner.lock import OutputLock; "
    "OutputLock(sys.argv[1], ['holder-for-test']).acquire(); print('held', flush=True); "
    "time.sleep(120)"
)


def _holder(output: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(output)],
        stdout=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=REPO,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture
def held(tmp_path):
    out = tmp_path / "out" / "o.jsonl"
    proc = _holder(out)
    yield out, proc
    proc.kill()
    proc.wait()


def test_second_writer_is_refused_naming_the_holder(held):
    out, proc = held
    with pytest.raises(LockHeld) as e:
        OutputLock(out).acquire()
    msg = str(e.value)
    assert f"pid {proc.pid}" in msg and "holder-for-test" in msg and os.uname().nodename in msg


def test_dead_holders_lock_is_recovered(held):
    out, proc = held
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert lock_path(out).exists()  # left behind by the killed holder
    lock = OutputLock(out).acquire()
    try:
        assert lock.previous["pid"] == proc.pid
        with pytest.raises(LockHeld, match=f"pid {os.getpid()}"):
            OutputLock(out).acquire()
    finally:
        lock.release()
    assert not lock_path(out).exists()
    with OutputLock(out):  # free again
        pass


def test_launch_and_merge_refuse_a_held_output(held, tmp_path, tiny_model, input_jsonl):
    out, proc = held
    cfg = write_config(tmp_path / "c.yaml", demo_config(tiny_model, input_jsonl, out))
    t0 = time.perf_counter()
    launch = run_cli("video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "1", check=False)
    assert launch.returncode == 4, launch.stderr[-2000:]
    assert f"pid {proc.pid}" in launch.stderr and "holder-for-test" in launch.stderr
    assert time.perf_counter() - t0 < 60  # refused before any model loads
    assert not list(out.parent.glob("*.rank*.jsonl"))
    merge = run_cli("video_pipeline.cli.merge", "--config", str(cfg), check=False)
    assert merge.returncode == 4 and f"pid {proc.pid}" in merge.stderr
    assert yaml.safe_load(cfg.read_text())["data"]["output_jsonl"] == str(out)
