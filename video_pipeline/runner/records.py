"""The runner's two records: a sample's answer, or why it has none."""

from __future__ import annotations

from typing import Any

from video_pipeline.engine.base import Finished
from video_pipeline.io.record import ERROR, OK, Record, RecordError, Tokens


def ok_record(
    key: str,
    fp: str,
    task: str,
    raw: Any,
    rank: int,
    out: Finished,
    result: Any,
    decode_s: float | None = None,
    engine_s: float | None = None,
) -> Record:
    rec = Record.new(key, OK, fp, task, raw, rank)
    rec.text, rec.result = out.text, result
    _answered(rec, out)
    rec.decode_s, rec.engine_s = decode_s, engine_s
    return rec


def error_record(
    key: str,
    fp: str,
    task: str,
    raw: Any,
    rank: int,
    error: RecordError,
    out: Finished | None = None,
    decode_s: float | None = None,
    engine_s: float | None = None,
) -> Record:
    rec = Record.new(key, ERROR, fp, task, raw, rank)
    rec.error = error
    if out is not None:  # the model answered but the answer was unusable: keep it
        rec.text = out.text
        _answered(rec, out)
    rec.decode_s, rec.engine_s = decode_s, engine_s
    return rec


def _answered(rec: Record, out: Finished) -> None:
    rec.tokens = Tokens(out.prompt_tokens, out.generated_tokens, out.cached_tokens)
    rec.finish_reason = out.finish_reason
