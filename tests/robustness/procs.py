"""Running `launch` in the background, watching its journals, and killing it with -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.helpers import REPO, cli_env
from video_pipeline.io.journal import journal_paths

FAULTS = "tests.robustness.faults"  # the plugin module, for run.plugins
# The engine's core in a process of its own, as vLLM runs it on GPUs (the tests' default
# on CPU is in-process: it starts in seconds instead of 35-50).
ENGINE_PROCESS = {"VLLM_ENABLE_V1_MULTIPROCESSING": "1"}
HOOKS = REPO / "tests" / "hooks"  # on PYTHONPATH: tests/hooks/sitecustomize.py loads


def pause_after_rename(suffix: str, marker: Path) -> dict[str, str]:
    """Environment that stops a process right after it renames a file onto `suffix`."""
    path = os.pathsep.join([str(HOOKS), cli_env()["PYTHONPATH"]])
    return {"PYTHONPATH": path, "VP_PAUSE_AFTER_RENAME": suffix, "VP_PAUSE_MARKER": str(marker)}


def start(module: str, *args: str, log: Path, **env: str) -> subprocess.Popen:
    full = {**cli_env(), **env}
    with open(log, "ab") as f:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args], stdout=f, stderr=f, env=full, cwd=REPO
        )


def finish(proc: subprocess.Popen, log: Path, timeout: float = 300) -> tuple[int, str]:
    rc = proc.wait(timeout=timeout)
    return rc, log.read_text(errors="replace")


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def engine_cores(root: int) -> list[int]:
    """vLLM's EngineCore processes under `root` (an engine in its own process)."""
    cores = []
    for pid in descendants(root):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"EngineCore" in cmdline:
            cores.append(pid)
    return cores


def kill9(proc: subprocess.Popen, timeout: float = 30) -> int:
    """SIGKILL the process alone, then wait for every process it had started to die;
    returns how many there were."""
    tree = descendants(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + timeout
    while True:
        alive = {p for p in tree if Path(f"/proc/{p}").exists() and not is_zombie(p)}
        if not alive:
            return len(tree)
        if time.monotonic() > deadline:
            raise AssertionError(f"processes outlived the killed launch: {sorted(alive)}")
        time.sleep(0.05)


def is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def journal_lines(output: Path) -> int:
    """Complete lines in all journals of an output."""
    return sum(p.read_bytes().count(b"\n") for p in journal_paths(output))


def torn(output: Path) -> bool:
    return any((b := p.read_bytes()) and not b.endswith(b"\n") for p in journal_paths(output))


def wait_for(what: Callable[[], bool], proc: subprocess.Popen, log: Path, timeout=240) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if proc.poll() is not None:
            tail = log.read_text()[-3000:]
            raise AssertionError(f"launch ended ({proc.returncode}) first:\n{tail}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting:\n{log.read_text()[-3000:]}")
        time.sleep(0.02)
