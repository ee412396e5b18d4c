"""Each benchmark script runs at tiny sizes and writes its result JSON.

Smoke only: the numbers of a CI machine mean nothing, so nothing here is timed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, cli_env

CHEAP = [
    "bench_resume_scan.py",
    "bench_record_read.py",
    "bench_shard_merge.py",
    "bench_memory.py",
    "bench_export_report.py",
    "bench_report_scale.py",
    "bench_decode_real.py",
    "bench_decode_cost.py",
    "bench_audio_decode.py",
]
ENGINE = [
    "bench_vs_naive.py",
    "bench_upper_bound.py",
    "bench_slow_decode.py",
    "bench_uint8.py",
    "bench_shared_decode.py",
    "bench_head_of_line.py",
    "bench_in_flight_bytes.py",
]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One scratch folder for all scripts, so the tiny model and videos are built once."""
    return tmp_path_factory.mktemp("bench-work")


def run_smoke(script: str, work: Path, tmp_path: Path) -> dict:
    out = tmp_path / "result.json"
    args = ["--smoke", "--work", str(work), "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=900,
        env=cli_env(),
        cwd=REPO,
    )
    assert proc.returncode == 0, f"{script} exited {proc.returncode}\n{proc.stderr[-6000:]}"
    result = json.loads(out.read_text())
    assert result["machine"]["cores"] >= 1
    assert str(out) in proc.stdout  # the one-line summary names the file
    return result


@pytest.mark.parametrize("script", CHEAP)
def test_cheap_benchmark_smoke(script: str, work: Path, tmp_path: Path):
    result = run_smoke(script, work, tmp_path)
    assert result["benchmark"] in {
        "resume_scan",
        "record_read",
        "shard_merge",
        "memory",
        "export_report",
        "report_scale",
        "decode_real",
        "decode_cost",
        "audio_decode",
    }


@pytest.mark.e2e
@pytest.mark.parametrize("script", ENGINE)
def test_engine_benchmark_smoke(script: str, work: Path, tmp_path: Path):
    result = run_smoke(script, work, tmp_path)
    assert result["videos"] == 4


def test_every_script_is_smoke_tested():
    scripts = {p.name for p in (REPO / "benchmarks").glob("bench_*.py")}
    assert scripts == set(CHEAP + ENGINE)
