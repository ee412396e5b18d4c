"""Where a run stands, read from its files alone: per task and shard, done / total,
errors by kind, rate, ETA, and whether its job is running, stalled or finished.

Nothing here talks to Snakemake, SLURM or the ranks: the journals say what is done
(the same fast scan a resume uses), a held output lock says a job is writing, the
journals' last writes say whether it still makes progress, and the finished unit's
file says it is done. So it works alike for a local run, a SLURM run seen from the
login node, and a `launch` run.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from video_pipeline.fingerprint import fingerprint
from video_pipeline.io.journal import journal_paths, parse_record, read_head
from video_pipeline.runner.lock import lock_path
from video_pipeline.stages.plan import upstream_of
from video_pipeline.workflow.targets import Run, Unit

_TIME_RE = re.compile(rb'"time": ([0-9.]+)')
RATE_WINDOW_S = 300.0  # the rate is that of the samples finished in the last 5 minutes


@dataclass
class UnitStatus:
    task: str
    shard: str | None
    state: str  # waiting | running | stalled | stopped | finished
    total: int | None  # rows of the unit's input; None before it exists
    done: int = 0  # keys with a record (a result or an error)
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # by kind
    rate: float | None = None  # samples/s, over the last RATE_WINDOW_S
    eta_s: float | None = None
    last_write_s: float | None = None  # seconds since a journal was last written
    writer: str | None = None  # the lock's note: who is writing
    after: list[str] = field(default_factory=list)  # a stage's upstream tasks

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


def unit_status(unit: Unit, now: float | None = None, stall_s: float = 600.0) -> UnitStatus:
    now = time.time() if now is None else now
    cfg = unit.config
    fp = fingerprint(cfg)
    total = _count_rows(Path(cfg.data.input_jsonl))
    status = UnitStatus(unit.task, unit.shard, "waiting", total, after=list(upstream_of(cfg)))
    best: dict[str, str] = {}  # key -> "ok" or the error's kind
    times: list[float] = []
    newest = 0.0
    decoder = json.JSONDecoder()
    for path in journal_paths(cfg.data.output_jsonl):
        newest = max(newest, path.stat().st_mtime)
        with open(path, "rb") as f:
            for line in f:
                head = read_head(line, decoder)
                if head is None or head.fingerprint != fp:
                    continue
                m = _TIME_RE.search(line)
                if m and float(m.group(1)) >= now - RATE_WINDOW_S:
                    times.append(float(m.group(1)))
                if head.status == "ok":
                    best[head.key] = "ok"
                elif best.get(head.key) != "ok":
                    rec = parse_record(line)
                    kind = rec.error_kind if rec is not None else None
                    best[head.key] = kind or head.status
    kinds = Counter(best.values())
    status.ok = kinds.pop("ok", 0)
    status.errors = dict(kinds.most_common())
    status.done = status.ok + status.failed
    if newest:
        status.last_write_s = round(now - newest, 1)
    writer = _lock_holder(cfg.data.output_jsonl)
    status.writer = writer
    if Path(unit.output).exists() and _finished(unit):
        status.state = "finished"
    elif writer is not None:
        stalled = newest and now - newest > stall_s
        status.state = "stalled" if stalled else "running"
    elif best:
        status.state = "stopped"
    if status.state in ("running", "stalled") and len(times) >= 2:
        span = max(now - min(times), 1e-6)
        status.rate = round(len(times) / span, 3)
        if total is not None and status.rate > 0:
            status.eta_s = round(max(total - status.done, 0) / status.rate, 1)
    return status


def run_status(run: Run, stall_s: float = 600.0) -> list[UnitStatus]:
    now = time.time()
    return [unit_status(u, now, stall_s) for u in run.units]


def task_totals(statuses: list[UnitStatus]) -> dict[str, dict]:
    """Per task: the sums of its shards, and a state (finished only when all are)."""
    out: dict[str, dict] = {}
    for s in statuses:
        t = out.setdefault(
            s.task,
            {"shards": 0, "total": 0, "done": 0, "ok": 0, "errors": Counter(), "rate": 0.0},
        )
        t["after"] = s.after
        t["shards"] += 1
        t["total"] = None if t["total"] is None or s.total is None else t["total"] + s.total
        t["done"] += s.done
        t["ok"] += s.ok
        t["errors"].update(s.errors)
        t["rate"] += s.rate or 0.0
        t.setdefault("states", Counter())[s.state] += 1
    for t in out.values():
        t["errors"] = dict(t["errors"].most_common())
        t["states"] = dict(t["states"])
        left = None if t["total"] is None else max(t["total"] - t["done"], 0)
        t["eta_s"] = round(left / t["rate"], 1) if left is not None and t["rate"] > 0 else None
        t["rate"] = round(t["rate"], 3)
    return out


def as_json(run: Run, statuses: list[UnitStatus]) -> dict:
    return {
        "kind": run.kind,
        "outdir": run.outdir,
        "time": round(time.time(), 3),
        "tasks": task_totals(statuses),
        "units": [{**asdict(s), "failed": s.failed} for s in statuses],
    }


def render(run: Run, statuses: list[UnitStatus]) -> str:
    """A table: one line per task (a stage with the tasks it is after), then one per
    shard that is not waiting."""
    lines = []
    totals = task_totals(statuses)
    head = f"{'task':<22} {'shard':<6} {'state':<9} {'done/total':>15} {'errors':>7} "
    lines.append(head + f"{'rate/s':>8} {'ETA':>9}  errors by kind")
    for task, t in totals.items():
        state = ", ".join(f"{n} {k}" for k, n in t["states"].items())
        name = f"{task} (after {', '.join(t['after'])})" if t["after"] else task
        lines.append(
            _line(name, "all", state, t["done"], t["total"], t["errors"], t["rate"], t["eta_s"])
        )
        for s in statuses:
            if s.task == task and s.shard is not None and s.state != "waiting":
                lines.append(
                    _line("", s.shard, s.state, s.done, s.total, s.errors, s.rate, s.eta_s)
                    + (f"  last write {s.last_write_s:.0f}s ago" if s.state == "stalled" else "")
                )
    stopped = [s for s in statuses if s.state == "stopped"]
    if stopped:
        lines.append(
            f"{len(stopped)} unit(s) stopped before finishing: rerun the same command to "
            "resume them"
        )
    return "\n".join(lines)


def _line(task, shard, state, done, total, errors, rate, eta) -> str:
    shown = f"{done}/{'?' if total is None else total}"
    kinds = " ".join(f"{k}={n}" for k, n in list(errors.items())[:4])
    failed = sum(errors.values())
    return (
        f"{task:<22} {shard:<6} {state:<9} {shown:>15} {failed:>7} "
        f"{(f'{rate:.2f}' if rate else '-'):>8} {_eta(eta):>9}  {kinds}"
    )


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def _count_rows(path: Path) -> int | None:
    """Non-empty lines of the unit's input (a bad line becomes an error record, so it
    counts); None when the input is not there yet (its shard job has not run)."""
    if not path.exists():
        return None
    n = 0
    with open(path, "rb") as f:
        for line in f:
            n += bool(line.strip())
    return n


def _finished(unit: Unit) -> bool:
    """A workflow part is finished once its stats (written after its records) exist; a
    `launch` output once its merge manifest does."""
    from video_pipeline.merge import manifest_path

    stem = unit.output.removesuffix(".jsonl")
    marker = Path(f"{stem}.stats.json") if unit.shard is not None else manifest_path(unit.output)
    return marker.exists()


def _lock_holder(output_jsonl: str) -> str | None:
    """Who holds the output's lock, from the note its holder wrote; None when nobody
    does. Never takes the lock, not even for a moment: a job starting then would find
    it held and refuse to run. A holder on this host is checked by its pid; one on
    another host (a SLURM node) is taken at its word, the lock file being removed when
    it finishes (a killed one shows as stalled once its journals stop growing)."""
    try:
        note = json.loads(lock_path(output_jsonl).read_bytes() or b"{}")
    except (OSError, ValueError):
        return None
    pid, host = note.get("pid"), note.get("host")
    if not isinstance(pid, int):
        return None
    if host == socket.gethostname():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
    return f"pid {pid} on {host}"
