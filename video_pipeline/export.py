"""A task's records as Parquet: one row per result, columns that `datasets` loads.

Columns, in order: `key`; `video_key`, `clip_index`, `clip_start`, `clip_end` when any
record is a clip; each field of the parsed result (`description`, or `summary`,
`objects`, ...); `text` (the model's raw answer); `prompt_tokens`, `generated_tokens`,
`cached_tokens`, `finish_reason`, `decode_s`, `engine_s`, `rank`, `task`,
`fingerprint` (each of these only when some record of the run has a value: no
`decode_s` for a run that did not time decodes); then every field of the input row as
it was (named `raw_<field>` if the name is taken). The errors file has `error_kind`,
`error_message` and `error_transient` in place of the result fields.

A field whose values are all booleans, integers, numbers, strings or lists of strings
gets that type; anything else (mappings, mixed types) is stored as JSON text. Types
are decided by a first pass over the records, then rows are written in batches, so
memory stays flat whatever the number of rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from video_pipeline.io.keys import KEY_FIELD
from video_pipeline.io.record import Record
from video_pipeline.quality.source import RecordSource

BATCH = 10_000  # rows per Arrow batch (and Parquet row group)
CLIP = ("video_key", "clip_index", "clip_start", "clip_end")
TAIL = (
    "text",
    "prompt_tokens",
    "generated_tokens",
    "cached_tokens",
    "finish_reason",
    "decode_s",
    "engine_s",
    "rank",
    "task",
    "fingerprint",
)
ERROR = ("error_kind", "error_message", "error_transient")
OPTIONAL = frozenset(CLIP + TAIL)  # written only when some record has a value


@dataclass
class ExportReport:
    rows: int = 0
    error_rows: int = 0
    files: list[str] = field(default_factory=list)
    error_files: list[str] = field(default_factory=list)

    def summary(self) -> str:
        s = f"exported {self.rows} results to {len(self.files)} file(s): {_names(self.files)}"
        if self.error_files:
            s += f"; {self.error_rows} errors to {_names(self.error_files)}"
        return s


def _names(files: list[str]) -> str:
    return files[0] if len(files) == 1 else f"{files[0]} ... {files[-1]}"


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "str"
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return "list_str"
    return "json"


def _arrow_type(kinds: set[str]) -> tuple[Any, bool]:
    """(Arrow type, stored as JSON text) of a field with values of `kinds`."""
    import pyarrow as pa

    kinds = kinds - {"null"}
    simple = {
        frozenset({"bool"}): pa.bool_(),
        frozenset({"int"}): pa.int64(),
        frozenset({"float"}): pa.float64(),
        frozenset({"int", "float"}): pa.float64(),
        frozenset({"str"}): pa.string(),
        frozenset({"list_str"}): pa.list_(pa.string()),
        frozenset(): pa.string(),
    }
    t = simple.get(frozenset(kinds))
    return (t, False) if t is not None else (pa.string(), True)


class _Columns:
    """Names and types of one output's columns, learned from its rows."""

    def __init__(self, head: tuple[str, ...]) -> None:
        self.head = list(head)
        self.kinds: dict[str, set[str]] = {}
        self.raw: dict[str, set[str]] = {}
        self.rows = 0

    def see(self, values: dict[str, Any], raw: dict[str, Any]) -> None:
        self.rows += 1
        for k, v in values.items():
            self.kinds.setdefault(k, set()).add(_kind(v))
        for k, v in raw.items():
            self.raw.setdefault(k, set()).add(_kind(v))

    def schema(self) -> tuple[Any, dict[str, tuple[str, str]]]:
        """The Arrow schema, and column -> (source: "v" or "raw", field) for each."""
        import pyarrow as pa

        fields, where, json_cols = [], {}, set()
        names = [n for n in self.head if n in self.kinds] + [
            n for n in self.kinds if n not in self.head
        ]
        # the pipeline's own columns that no record of the run has (no engine stats in
        # an older run's records, no tokens in errors before the engine) are left out
        names = [n for n in names if n not in OPTIONAL or self.kinds[n] != {"null"}]
        for n in names:
            t, as_json = _arrow_type(self.kinds[n])
            fields.append(pa.field(n, t))
            where[n] = ("v", n)
            if as_json:
                json_cols.add(n)
        for n, kinds in self.raw.items():
            col = n if n not in where else f"raw_{n}"
            t, as_json = _arrow_type(kinds)
            fields.append(pa.field(col, t))
            where[col] = ("raw", n)
            if as_json:
                json_cols.add(col)
        self.json_cols = json_cols
        return pa.schema(fields), where


def _values(rec: Record) -> dict[str, Any]:
    """The record's columns other than the input row's fields."""
    v: dict[str, Any] = {"key": rec.key}
    raw = rec.raw if isinstance(rec.raw, dict) else {}
    if rec.clip is not None:
        clip = rec.clip
        v.update(
            clip_index=clip.get("index"), clip_start=clip.get("start"), clip_end=clip.get("end")
        )
    elif raw.get("video_start") is not None or raw.get("video_end") is not None:
        v.update(clip_start=raw.get("video_start"), clip_end=raw.get("video_end"))
    if rec.video_key is not None:
        v["video_key"] = rec.video_key
    if rec.ok:
        if isinstance(rec.result, dict):
            v.update(rec.result)
        else:
            v["result"] = rec.result
    else:
        err = rec.error
        v.update(
            error_kind=rec.error_kind,
            error_message=err.message if err is not None else None,
            error_transient=rec.transient,
        )
    tokens = rec.tokens
    v.update(
        text=rec.text,
        prompt_tokens=tokens.prompt if tokens is not None else None,
        generated_tokens=tokens.generated if tokens is not None else None,
        cached_tokens=tokens.cached if tokens is not None else None,
        finish_reason=rec.finish_reason,
        decode_s=rec.decode_s,
        engine_s=rec.engine_s,
        rank=rec.rank,
        task=rec.task,
        fingerprint=rec.fingerprint,
    )
    return v


def _raw(rec: Record) -> dict[str, Any]:
    raw = rec.raw
    return {k: v for k, v in raw.items() if k != KEY_FIELD} if isinstance(raw, dict) else {}


def _records(source: RecordSource) -> Iterator[Record]:
    for _, _, rec in source:
        yield rec


def shard_paths(out: str, rows: int, rows_per_file: int | None) -> list[str]:
    """`out` itself, or `<stem>-00000-of-0000N.parquet` files of `rows_per_file` rows."""
    if not rows_per_file:
        return [out]
    n = max(1, math.ceil(rows / rows_per_file))
    stem = out[: -len(".parquet")] if out.endswith(".parquet") else out
    return [f"{stem}-{i:05d}-of-{n:05d}.parquet" for i in range(n)]


def export_parquet(
    source: RecordSource,
    out: str,
    errors_out: str | None = None,
    rows_per_file: int | None = None,
) -> ExportReport:
    """Write the results of `source` to `out` (and its errors to `errors_out`)."""
    ok_cols = _Columns(("key", *CLIP))
    err_cols = _Columns(("key", *CLIP, *ERROR))
    for rec in _records(source):  # pass 1: the columns and their types
        cols = ok_cols if rec.ok else err_cols
        if rec.ok or errors_out:
            cols.see(_values(rec), _raw(rec))
    report = ExportReport(rows=ok_cols.rows, error_rows=err_cols.rows if errors_out else 0)
    report.files = _write(source, True, ok_cols, out, rows_per_file)
    if errors_out:
        report.error_files = _write(source, False, err_cols, errors_out, rows_per_file)
    return report


def _write(
    source: RecordSource, ok: bool, cols: _Columns, out: str, rows_per_file: int | None
) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not cols.kinds:
        cols.head = ["key"]
        cols.kinds = {"key": {"str"}}
    schema, where = cols.schema()
    paths = shard_paths(out, cols.rows, rows_per_file)
    per_file = rows_per_file or max(cols.rows, 1)
    for p in paths:
        Path(p).parent.mkdir(parents=True, exist_ok=True)
    writers = iter(paths)
    writer, in_file, batch = None, 0, []

    def flush() -> None:
        nonlocal writer
        if writer is None:
            writer = pq.ParquetWriter(next(writers), schema)
        writer.write_table(pa.Table.from_pylist(batch, schema=schema))
        batch.clear()

    for row in _rows(source, ok, where, cols.json_cols):
        batch.append(row)
        in_file += 1
        if len(batch) >= BATCH or in_file == per_file:
            flush()
        if in_file == per_file:
            writer.close()
            writer, in_file = None, 0
    if batch or (writer is None and cols.rows == 0):
        flush()
    if writer is not None:
        writer.close()
    return paths


def _rows(
    source: RecordSource, ok: bool, where: dict[str, tuple[str, str]], json_cols: set[str]
) -> Iterator[dict[str, Any]]:
    for rec in _records(source):
        if rec.ok != ok:
            continue
        values, raw = _values(rec), _raw(rec)
        row = {}
        for col, (src, name) in where.items():
            v = (values if src == "v" else raw).get(name)
            row[col] = (
                json.dumps(v, ensure_ascii=False) if col in json_cols and v is not None else v
            )
        yield row
