"""Running the workflow for real in tests: Snakemake commands, configs, records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import REPO

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def snakemake_cmd(
    workdir: Path, configfiles: list[Path], *args: str, targets: tuple[str, ...] = ()
) -> list[str]:
    """Targets come first: options such as --configfile and --resources take lists."""
    files = [str(REPO / "configs" / "demo.yaml"), *map(str, configfiles)]
    return [
        SNAKEMAKE,
        *targets,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        *files,
        *args,
    ]


def run_snakemake(
    workdir: Path,
    configfiles: list[Path],
    *args: str,
    env: dict[str, str],
    targets: tuple[str, ...] = (),
    check: bool = True,
    timeout: float = 900,
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        snakemake_cmd(workdir, configfiles, *args, targets=targets),
        capture_output=True,
        text=True,
        env=env,
        cwd=workdir,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} exited {proc.returncode}\n"
            f"--- stderr (tail) ---\n{proc.stderr[-8000:]}\n--- stdout ---\n{proc.stdout[-3000:]}"
        )
    return proc


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def jobs_run(proc: subprocess.CompletedProcess) -> list[str]:
    """`rule (wildcards)` of each job Snakemake started, from its log on stderr."""
    jobs, rule = [], None
    for line in (proc.stderr + proc.stdout).splitlines():
        s = line.strip()
        if s.startswith(("rule ", "localrule ")) and s.endswith(":"):
            rule = s.split()[1].rstrip(":")
            jobs.append(rule)
        elif s.startswith("wildcards:") and rule is not None and jobs and jobs[-1] == rule:
            jobs[-1] = f"{rule} ({s.removeprefix('wildcards:').strip()})"
    return jobs
