"""Split the input into shards by a stable hash of each row's key.

`key_hash(key) % num_shards` depends on the key alone, so a key keeps its shard (and
its finished work) when rows are added to the input. Each shard row carries `__key`,
computed from the original input, so keys do not depend on which file a row is read
from; a line that cannot be a sample is carried over as an error row with its key
(`line:N` of the original file) and becomes an error record downstream.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from video_pipeline.io.atomic import Staged
from video_pipeline.io.jsonl import RowError, dumps_line, iter_lines, parse_line
from video_pipeline.io.keys import KEY_FIELD, key_hash, line_key, row_key

log = logging.getLogger("video_pipeline")


@dataclass
class ShardReport:
    rows: list[int] = field(default_factory=list)
    bad_rows: int = 0


def shard_row(line: bytes, lineno: int, video_field: str, id_field: str | None) -> dict[str, Any]:
    """The shard row of one input line: the row with `__key` first, or an error row."""
    try:
        row = parse_line(line, lineno)
    except RowError as e:
        return {KEY_FIELD: line_key(lineno), "__error": str(e), "__error_kind": "bad_row"}
    try:
        key = row_key(row, video_field, id_field)
    except KeyError as e:
        return {
            **row,
            KEY_FIELD: line_key(lineno),
            "__error": str(e.args[0]),
            "__error_kind": "missing_video",
        }
    return {KEY_FIELD: key, **{k: v for k, v in row.items() if k != KEY_FIELD}}


def shard_of(key: str, num_shards: int) -> int:
    return key_hash(key) % num_shards


def deal(lines: Iterable[tuple[str, bytes]], outputs: Sequence[str | Path]) -> list[int]:
    """Each `(key, line)` into `outputs[shard_of(key, n)]`; every output is replaced
    atomically once all are written. Returns the lines per output."""
    n = len(outputs)
    counts = [0] * n
    with ExitStack() as stack:
        staged = [stack.enter_context(Staged(p)) for p in outputs]
        files = [s.open() for s in staged]
        for key, line in lines:
            i = shard_of(key, n)
            files[i].write(line)
            counts[i] += 1
        for s in staged:
            s.commit()
    return counts


def write_shards(
    input_jsonl: str | Path,
    outputs: Sequence[str | Path],
    video_field: str,
    id_field: str | None,
) -> ShardReport:
    """Write one file per shard (`outputs[i]` is shard i), each atomically."""
    report = ShardReport()

    def lines() -> Iterator[tuple[str, bytes]]:
        for _offset, lineno, line in iter_lines(input_jsonl):
            row = shard_row(line, lineno, video_field, id_field)
            report.bad_rows += "__error" in row
            yield row[KEY_FIELD], dumps_line(row)

    report.rows = deal(lines(), outputs)
    log.info(
        "%d rows into %d shards (%s); %d bad rows carried as errors",
        sum(report.rows),
        len(outputs),
        " ".join(map(str, report.rows)),
        report.bad_rows,
    )
    return report
