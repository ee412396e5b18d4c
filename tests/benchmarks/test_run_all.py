"""`benchmarks/run_all.py` (what `make bench` runs) runs the scripts it is given."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO, cli_env


def run_all(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run_all.py"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=cli_env(),
        cwd=REPO,
    )


def test_runs_the_named_script_and_tabulates(tmp_path: Path):
    proc = run_all("--smoke", "--only", "bench_resume_scan", "--work", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "== bench_resume_scan" in proc.stdout
    row = [line.split() for line in proc.stdout.splitlines() if line.startswith("bench_")]
    assert [r[:2] for r in row] == [["bench_resume_scan", "0"]]


def test_an_unknown_name_lists_the_scripts():
    proc = run_all("--only", "bench_nope")
    assert proc.returncode == 2
    assert "unknown benchmark(s) bench_nope" in proc.stderr
    assert "bench_shard_merge" in proc.stderr
