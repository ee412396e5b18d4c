"""An input JSONL -> a clip-row JSONL (and a probe report), in input order.

Each video's clips are written together and in time order. Probing (and shot detection,
a full decode) runs in a process pool when asked, with a bounded number of rows in
flight, so memory does not grow with the input. Outputs are replaced atomically
(io/atomic.py), so an interrupted expansion leaves nothing half written.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from video_pipeline.clips.expand import ExpandOptions, Expansion, expand_row
from video_pipeline.clips.shots import require_shots
from video_pipeline.io.atomic import atomic_writer
from video_pipeline.io.jsonl import dumps_line, iter_lines
from video_pipeline.io.keys import KEY_FIELD, key_hash
from video_pipeline.workflow.shard import shard_row

log = logging.getLogger("video_pipeline")


@dataclass
class ExpandReport:
    input: str
    output: str
    rows: int = 0  # input rows read
    duplicates: int = 0  # rows whose key came earlier (expanded once)
    videos: int = 0  # rows expanded into clips
    clips: int = 0  # clip rows written
    failed: int = 0  # rows written as one error row (bad line, unprobeable video, ...)
    probed_by: dict[str, int] = field(default_factory=dict)  # "container" / "decode"
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0  # video seconds covered by the clips
    wall_s: float = 0.0

    def summary(self) -> str:
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(self.errors_by_kind.items()))
        probed = ", ".join(f"{k}={v}" for k, v in sorted(self.probed_by.items()))
        s = (
            f"expanded {self.videos} videos into {self.clips} clips "
            f"({self.seconds / 3600:.3g} h of video; probed by {probed or 'nothing'}); "
            f"{self.failed} rows failed, {self.duplicates} duplicate rows -> {self.output} "
            f"in {self.wall_s:.1f}s"
        )
        return s + (f" (errors: {kinds})" if kinds else "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def expand_file(
    input_jsonl: str | Path,
    output_jsonl: str | Path,
    options: ExpandOptions,
    probes_jsonl: str | Path | None = None,
    workers: int = 0,
) -> ExpandReport:
    """Write the clip rows of every row of `input_jsonl` to `output_jsonl`.

    `probes_jsonl` also gets one line per input row: its key, duration, frame rate,
    frame count, how it was probed, its number of clips and its error. `workers` > 0
    probes in that many processes.
    """
    t0 = time.perf_counter()
    if options.clips.mode == "shots":
        require_shots()
    report = ExpandReport(str(input_jsonl), str(output_jsonl))
    probed: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    rows = _unique_rows(input_jsonl, options, report)
    probes_file = atomic_writer(probes_jsonl) if probes_jsonl is not None else nullcontext()
    with atomic_writer(output_jsonl) as out, probes_file as probes:
        for exp in _expansions(rows, options, workers):
            for row in exp.rows:
                out.write(dumps_line(row))
            if probes is not None:
                probes.write(dumps_line(exp.probe_record()))
            if exp.probe is not None:
                probed[exp.probe.source] += 1
            if exp.error is not None:
                report.failed += 1
                kinds[exp.error.kind] += 1
            else:
                report.videos += 1
                report.clips += len(exp.rows)
                report.seconds += sum(c.seconds for c in exp.clips)
    report.probed_by, report.errors_by_kind = dict(probed), dict(kinds)
    report.wall_s = time.perf_counter() - t0
    log.info("%s", report.summary())
    return report


def _unique_rows(
    path: str | Path, options: ExpandOptions, report: ExpandReport
) -> Iterator[dict[str, Any]]:
    """Keyed rows of the input (bad lines as error rows), each key once."""
    seen: set[int] = set()
    for _offset, lineno, line in iter_lines(path):
        report.rows += 1
        row = shard_row(line, lineno, options.video_field, options.id_field)
        h = key_hash(str(row[KEY_FIELD]))
        if h in seen:
            report.duplicates += 1
            continue
        seen.add(h)
        yield row


def _expansions(
    rows: Iterable[dict[str, Any]], options: ExpandOptions, workers: int
) -> Iterator[Expansion]:
    """`expand_row` over the rows, in order; in `workers` processes when > 0."""
    if workers <= 0:
        for row in rows:
            yield expand_row(row, options)
        return
    # fork, as DataLoader workers are started: spawn and forkserver re-import the
    # caller's main module, which a script without a __main__ guard cannot survive.
    # At most 8 rows per worker wait in flight.
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        yield from _ordered(pool.submit, rows, options, 8 * workers)


def _ordered(
    submit: Callable[..., Future],
    rows: Iterable[dict[str, Any]],
    options: ExpandOptions,
    window: int,
) -> Iterator[Expansion]:
    pending: deque[Future] = deque()
    for row in rows:
        pending.append(submit(expand_row, row, options))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
