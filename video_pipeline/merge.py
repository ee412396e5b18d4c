"""Merge rank journals into one output: each input key once, in input order.

Results go to `data.output_jsonl`, failures to `<stem>.errors.jsonl`, the report to
`<stem>.merge.json`, written last as the set's manifest (io/outputs.py): a merge killed
at any point leaves either the previous complete set or one readers know is incomplete.
When a key has several records (a retried error, or a journal from a rank count used
earlier), a result wins over an error, the first result over later ones, and the newest
error over older ones (a retry that failed again says why it failed last).
"""

from __future__ import annotations

import glob
import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from video_pipeline.config.schema import Config
from video_pipeline.fingerprint import fingerprint
from video_pipeline.io.atomic import Staged
from video_pipeline.io.journal import journal_paths, output_stem, parse_record, read_head
from video_pipeline.io.jsonl import RowError, iter_lines, parse_line
from video_pipeline.io.keys import line_key, row_key
from video_pipeline.io.outputs import publish
from video_pipeline.io.record import Record
from video_pipeline.strips import StripIndex, strips_path


@dataclass
class MergeReport:
    output: str
    errors_output: str
    input_rows: int = 0
    unique_keys: int = 0
    ok: int = 0
    failed: int = 0
    pending: int = 0
    input_duplicates: int = 0
    journal_duplicates: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    videos: dict[str, Any] | None = None  # the roll-up's report, when clips are on

    @property
    def complete(self) -> bool:
        return self.pending == 0

    def summary(self) -> str:
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(self.errors_by_kind.items()))
        s = (
            f"merged {self.unique_keys} keys: ok={self.ok} failed={self.failed} "
            f"pending={self.pending} input_duplicates={self.input_duplicates}"
            f" -> {self.output}"
        )
        if self.failed:
            s += f" (errors: {kinds}; see {self.errors_output})"
        if self.videos is not None:
            v = self.videos
            s += (
                f"\nrolled up {v['clips']} clips into {v['videos']} videos "
                f"({v['complete']} complete) -> {v['output']}"
            )
        if self.pending:
            s += "\nsome keys have no record yet: rerun the launch command to finish them"
        return s


def input_keys(cfg: Config):
    """Keys of the input, in order, computed exactly as the ranks compute them."""
    for _offset, lineno, line in iter_lines(cfg.data.input_jsonl):
        try:
            yield row_key(parse_line(line, lineno), cfg.data.video_field, cfg.data.id_field)
        except (RowError, KeyError):
            yield line_key(lineno)


def collect(paths: list[Path], fp: str) -> tuple[dict[str, tuple[int, int, bool]], int]:
    """key -> (journal index, byte offset, is ok) of its best record; and duplicates seen."""
    decoder = json.JSONDecoder()
    best: dict[str, tuple[int, int, bool]] = {}
    error_time: dict[str, float] = {}
    dups = 0
    for j, path in enumerate(paths):
        with open(path, "rb") as f:
            offset = 0
            for line in f:
                head = read_head(line, decoder)
                if head is not None and head.fingerprint == fp:
                    prev = best.get(head.key)
                    dups += prev is not None
                    if head.status == "ok":
                        if prev is None or not prev[2]:
                            best[head.key] = (j, offset, True)
                    elif prev is None or not prev[2]:
                        rec = parse_record(line)
                        t = rec.time if rec is not None else 0.0
                        if prev is None or t >= error_time[head.key]:
                            best[head.key] = (j, offset, False)
                            error_time[head.key] = t
                offset += len(line)
    return best, dups


def manifest_path(output: str | Path) -> Path:
    """The manifest of a merged output: its report, written after its files."""
    return Path(f"{output_stem(output)}.merge.json")


def videos_path(output: str | Path) -> Path:
    """The per-video roll-up of a merged clip output."""
    return Path(f"{output_stem(output)}.videos.jsonl")


def merge_outputs(
    cfg: Config,
    output: str | None = None,
    manifest: Path | None = None,
    summary: Callable[[MergeReport], dict[str, Any]] | None = None,
    rollup: bool = True,
    strips_out: Path | None = None,
) -> MergeReport:
    """Merge the journals of `cfg` into `output` (default `data.output_jsonl`).

    The manifest (default `<stem>.merge.json`) holds the report, or what `summary`
    makes of it. With clips on (`cfg` reading the clip rows) and `rollup`, the set also
    holds `<stem>.videos.jsonl`, one line per video. The merged keys' thumbnail strips
    (strips.py) join the set as `<stem>.strips`, or go to `strips_out` outside it.
    """
    out = Path(output or cfg.data.output_jsonl)
    errors_out = Path(f"{output_stem(out)}.errors.jsonl")
    paths = journal_paths(cfg.data.output_jsonl)
    fp = fingerprint(cfg)
    best, dups = collect(paths, fp)
    report = MergeReport(str(out), str(errors_out), journal_duplicates=dups)
    kinds: Counter[str] = Counter()
    handles = [open(p, "rb") for p in paths]  # noqa: SIM115 (closed below)
    _remove_stale_temps(out, errors_out)
    videos_out = videos_path(out)
    seen: set[str] = set()
    strips_dest = strips_out or strips_path(out)
    try:
        with (
            Staged(out) as results,
            Staged(errors_out) as errors,
            Staged(videos_out) as videos,
            Staged(strips_dest) as strip_file,
        ):
            fo, fe = results.open(), errors.open()
            for key in input_keys(cfg):
                report.input_rows += 1
                if key in seen:
                    report.input_duplicates += 1
                    continue
                seen.add(key)
                loc = best.get(key)
                if loc is None:
                    report.pending += 1
                    continue
                h = handles[loc[0]]
                h.seek(loc[1])
                line = h.readline()
                if loc[2]:
                    fo.write(line)
                    report.ok += 1
                else:
                    fe.write(line)
                    report.failed += 1
                    kinds[Record.from_dict(json.loads(line)).error_kind] += 1
            results.close()
            errors.close()
            report.unique_keys = len(seen)
            report.errors_by_kind = dict(kinds)
            files = {"results": (results.tmp, out), "errors": (errors.tmp, errors_out)}
            strips = StripIndex([strips_path(p) for p in paths], fp)
            if len(strips):  # the thumbnails of the merged keys
                _remove_stale_temps(strips_dest)
                strips.write((k for k in best if k in seen), strip_file.tmp)
                if strips_out is None:
                    files["strips"] = (strip_file.tmp, strips_dest)  # in the same set
                else:
                    strip_file.commit()
            elif strips_out is not None:
                strips_out.unlink(missing_ok=True)  # of an earlier merge with thumbnails on
            if cfg.clips.enabled and rollup:
                from video_pipeline.clips.rollup import write_rollup

                _remove_stale_temps(videos_out)
                tmps = [results.tmp, errors.tmp]
                rolled = write_rollup(tmps, videos.tmp, [cfg.data.input_jsonl])
                report.videos = {**rolled.to_dict(), "output": str(videos_out)}
                files["videos"] = (videos.tmp, videos_out)
            publish(
                files,
                manifest or manifest_path(out),
                summary(report) if summary else asdict(report),
            )
    finally:
        for h in handles:
            h.close()
    return report


def _remove_stale_temps(*outputs: Path) -> None:
    """Delete temp files a merge killed mid-write left behind (its pid is gone).

    Callers hold the output lock, so no live merge is writing them.
    """
    for out in outputs:
        for tmp in out.parent.glob(glob.escape(out.name) + ".tmp*"):
            pid = tmp.name.rsplit(".tmp", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
