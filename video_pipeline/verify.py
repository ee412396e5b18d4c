"""Verify: check a finished or partial run against its input, without changing anything.

Counts each input key as done (a result), failed (only errors) or pending (no record),
and lists what breaks exactly-once: a key with two results, records whose key is not in
the input, corrupt journal lines, records of another fingerprint in the journals, a
merged output that repeats keys or mixes fingerprints. A torn last journal line (a
crash mid-write, cut by the next run) and repeated errors (retries) are reported, not
counted as violations.
"""

from __future__ import annotations

import glob
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from video_pipeline.config.schema import Config
from video_pipeline.io.journal import journal_paths, output_stem, read_head
from video_pipeline.io.outputs import problems
from video_pipeline.merge import input_keys, manifest_path
from video_pipeline.runner.state import recorded_fingerprint


@dataclass
class VerifyReport:
    task: str
    fingerprint: str
    journals: list[str] = field(default_factory=list)
    input_rows: int = 0
    unique_keys: int = 0
    input_duplicates: int = 0
    done: int = 0
    failed: int = 0
    pending: int = 0
    records: int = 0
    repeated_errors: int = 0  # keys with more than one error record (retries)
    torn_tails: list[str] = field(default_factory=list)
    merged: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"task {self.task} (fingerprint {self.fingerprint}): {self.unique_keys} input keys "
            f"({self.input_duplicates} duplicate rows), {len(self.journals)} journal(s), "
            f"{self.records} records",
            f"  done={self.done} failed={self.failed} pending={self.pending} "
            f"repeated_errors={self.repeated_errors}",
        ]
        if self.merged:
            lines.append(
                "  merged: " + " ".join(f"{k}={v}" for k, v in sorted(self.merged.items()))
            )
        lines += [f"  torn last line (cut by the next run): {t}" for t in self.torn_tails]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  VIOLATION: {v}" for v in self.violations]
        lines.append("  FAILED" if self.violations else "  OK")
        return "\n".join(lines)


def verify_run(
    cfg: Config,
    require_complete: bool = False,
    merged: Path | None = None,
    manifest: Path | None = None,
) -> VerifyReport:
    """Check the journals of `cfg`, and its merged output: `merged` (default
    data.output_jsonl) vouched for by `manifest` (default its merge manifest; a
    workflow part's is its stats file)."""
    fp = recorded_fingerprint(cfg)
    paths = journal_paths(cfg.data.output_jsonl)
    report = VerifyReport(cfg.run.task, fp, journals=[str(p) for p in paths])
    keys = list(input_keys(cfg))
    known = set(keys)
    report.input_rows, report.unique_keys = len(keys), len(known)
    report.input_duplicates = len(keys) - len(known)

    ok: Counter[str] = Counter()
    err: Counter[str] = Counter()
    unknown: Counter[str] = Counter()
    for path in paths:
        _scan_journal(path, fp, known, ok, err, unknown, report)

    report.done = sum(1 for k in known if ok[k])
    report.failed = sum(1 for k in known if not ok[k] and err[k])
    report.pending = report.unique_keys - report.done - report.failed
    report.repeated_errors = sum(1 for n in err.values() if n > 1)
    twice = sorted(k for k, n in ok.items() if n > 1)
    if twice:
        report.violations.append(f"{len(twice)} key(s) have more than one result: {_few(twice)}")
    if unknown:
        report.violations.append(
            f"{sum(unknown.values())} record(s) of {len(unknown)} key(s) not in the input: "
            f"{_few(sorted(unknown))}"
        )
    if require_complete and report.pending:
        report.violations.append(f"{report.pending} input key(s) have no record yet")
    _check_merged(cfg, fp, known, report, merged, manifest)
    return report


def _scan_journal(path, fp, known, ok, err, unknown, report: VerifyReport) -> None:
    decoder = json.JSONDecoder()
    other: Counter[str] = Counter()
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.endswith(b"\n"):
                report.torn_tails.append(f"{path} line {lineno} ({len(line)} bytes)")
                continue
            if not line.strip():
                continue
            head = read_head(line, decoder)
            if head is None:
                report.violations.append(f"{path} line {lineno} is not a journal record")
                continue
            key, status, rec_fp = head
            if rec_fp != fp:
                other[rec_fp] += 1
                continue
            report.records += 1
            if key not in known:
                unknown[key] += 1
            elif status == "ok":
                ok[key] += 1
            else:
                err[key] += 1
    for other_fp, n in other.items():
        report.violations.append(
            f"{path} holds {n} record(s) of fingerprint {other_fp}: results of another "
            "configuration are mixed in"
        )


def _check_merged(
    cfg: Config,
    fp: str,
    known: set[str],
    report: VerifyReport,
    merged: Path | None = None,
    manifest: Path | None = None,
) -> None:
    out = Path(merged or cfg.data.output_jsonl)
    files = {"results": out, "errors": Path(f"{output_stem(out)}.errors.jsonl")}
    for name in files.values():
        for tmp in sorted(name.parent.glob(f"{glob.escape(name.name)}.tmp*")):
            report.notes.append(f"{tmp} was left by an interrupted merge; safe to delete")
    if not out.exists():
        return
    incomplete = problems(manifest or manifest_path(out))
    if incomplete:
        report.violations.append(
            f"{out} is not a complete merged set ({'; '.join(incomplete)}); run merge again"
        )
        return
    decoder = json.JSONDecoder()
    seen: Counter[str] = Counter()
    fps: Counter[str] = Counter()
    for name, path in files.items():
        if not path.exists():
            continue
        n = 0
        with open(path, "rb") as f:
            for lineno, line in enumerate(f, 1):
                head = read_head(line, decoder)
                if head is None:
                    report.violations.append(f"{path} line {lineno} is not a complete record")
                    continue
                n += 1
                seen[head.key] += 1
                fps[head.fingerprint] += 1
        report.merged[name] = n
    if len(fps) > 1:
        report.violations.append(f"{out} mixes records of fingerprints {', '.join(sorted(fps))}")
    elif fps and fp not in fps:
        report.notes.append(f"{out} was merged under another fingerprint; merge again")
        return
    twice = sorted(k for k, n in seen.items() if n > 1)
    if twice:
        report.violations.append(f"{out} holds {len(twice)} key(s) twice: {_few(twice)}")
    extra = sorted(k for k in seen if k not in known)
    if extra:
        report.violations.append(f"{out} holds {len(extra)} key(s) not in the input")
    if sum(report.merged.values()) != report.done + report.failed:
        report.notes.append(
            f"{out} holds {sum(report.merged.values())} keys, the journals "
            f"{report.done + report.failed}: merge again for the latest"
        )


def _few(items: list[str], n: int = 5) -> str:
    shown = ", ".join(repr(i) for i in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")
