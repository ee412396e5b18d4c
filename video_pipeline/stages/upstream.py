"""The upstream join: per sample, the upstream records of its key and the filled prompt.

A staged task reads its upstream tasks' records (journals, merged outputs or workflow
parts) under their current fingerprints, keyed by `__key`. For each sample the
template's placeholders are filled from them and from the input row; a row without a
named field is a `missing_field` error, an upstream error or a missing upstream answer
an `upstream_error` naming the task, never a prompt with "None" in it. Each record of
the task carries what its prompt was given: `upstream: {task: {text, result}}`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from video_pipeline.config.schema import Config
from video_pipeline.errors import SampleError
from video_pipeline.io.journal import iter_records, journal_paths, output_stem
from video_pipeline.io.keys import key_hash
from video_pipeline.io.record import Record
from video_pipeline.stages.plan import RECORDS, is_staged, upstream_of
from video_pipeline.stages.template import (
    RAW,
    TEMPLATED,
    Ref,
    as_text,
    lookup,
    parse,
    render,
)
from video_pipeline.tasks.base import Task

UPSTREAM_FIELD = "upstream"


def record_files(records: str | Path) -> list[Path]:
    """Where a task's records are: its merged output and errors, then its journals
    (a launch output), or a workflow part and its errors."""
    stem = output_stem(records)
    return [Path(records), Path(f"{stem}.errors.jsonl"), *journal_paths(records)]


class UpstreamJoin:
    """The upstream records of a staged task, by key: `{task: {key: record}}`."""

    def __init__(self, records: dict[str, dict[str, Record]]) -> None:
        self.records = records

    @classmethod
    def load(cls, cfg: Config, wanted: Iterable[int] | None = None) -> UpstreamJoin:
        """The upstream records of `cfg`, only of the keys whose hashes are `wanted`
        (a rank's rows to run) when given: memory bounded by the rank's work."""
        keep = None if wanted is None else {int(h) for h in wanted}
        out: dict[str, dict[str, Record]] = {}
        for name, up in upstream_of(cfg).items():
            by_key: dict[str, Record] = {}
            for path in record_files(up[RECORDS]):
                for _, rec in iter_records(path):
                    if rec.fingerprint != up["fingerprint"]:
                        continue
                    if keep is not None and key_hash(rec.key) not in keep:
                        continue
                    had = by_key.get(rec.key)
                    if rec.ok or had is None or not had.ok:  # a result wins over an error
                        by_key[rec.key] = rec
            out[name] = by_key
        return cls(out)

    def given(self, key: str) -> dict[str, dict[str, Any]]:
        """What the upstream tasks answered for `key`; `upstream_error` if one did not."""
        out = {}
        for name, by_key in self.records.items():
            rec = by_key.get(key)
            if rec is None:
                raise SampleError("upstream_error", f"{name}: no record for this key")
            if not rec.ok:
                kind = rec.error_kind
                message = rec.error.message if rec.error is not None else ""
                raise SampleError("upstream_error", f"{name} failed: {kind}: {message}")
            out[name] = {"text": rec.text, "result": rec.result}
        return out


def fill(refs: list[Ref], given: dict[str, dict[str, Any]], raw: Any) -> dict[str, str]:
    """Each placeholder's text for one sample; raises `missing_field` / `upstream_error`."""
    values = {}
    for ref in refs:
        if ref.kind == RAW:
            found, value = lookup(raw, ref.path)
            if not found or value is None:
                raise SampleError(
                    "missing_field", f"{ref.placeholder}: the row has no field {'.'.join(ref.path)}"
                )
        elif ref.kind == "text":
            value = given[ref.source]["text"]
            found = isinstance(value, str)
        else:
            found, value = lookup(given[ref.source]["result"], ref.path)
        if not found or value is None:
            raise SampleError(
                "upstream_error", f"{ref.source}: its answer has no {ref.placeholder[1:-1]}"
            )
        values[ref.placeholder] = as_text(value)
    return values


class StagedTask(Task):
    """A task whose prompt is a template over its upstream's answers: the registered
    task `inner`, given per sample its params with the templates filled in."""

    def __init__(self, inner: Task, join: UpstreamJoin) -> None:
        super().__init__(**inner.params)
        self.inner = inner
        self.join = join
        self.name = inner.name  # type: ignore[misc]  (records name the registered task)
        self.dataset_name = inner.dataset_name  # type: ignore[misc]
        names = list(join.records)
        self.templates = {
            k: (v, parse(v, names))
            for k, v in inner.params.items()
            if k in TEMPLATED and isinstance(v, str)
        }

    def build_messages(self, sample: Any) -> list[dict[str, Any]]:
        for _, refs in self.templates.values():  # the row's own fault first: permanent
            fill([r for r in refs if r.kind == RAW], {}, sample["raw"])
        given = self.join.given(sample["__key"])
        params = dict(self.inner.params)
        for key, (template, refs) in self.templates.items():
            params[key] = render(template, fill(refs, given, sample["raw"]))
        return type(self.inner)(**params).build_messages(sample)

    def parse(self, generated_text: str, sample: dict[str, Any]) -> dict[str, Any]:
        return self.inner.parse(generated_text, sample)

    def parse_parts(
        self, texts: list[str], meta: list[dict[str, Any]], sample: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        return self.inner.parse_parts(texts, meta, sample)

    def sampling_overrides(self) -> dict[str, Any]:
        return self.inner.sampling_overrides()

    def json_schema(self) -> dict[str, Any] | None:
        return self.inner.json_schema()

    def result_fields(self) -> list[str] | None:
        return self.inner.result_fields()


def staged(task: Task, cfg: Config, wanted: Iterable[int] | None = None) -> Task:
    """`task` as the rank runs it: wrapped with its upstream join when `cfg` is staged
    (the records of the keys hashed `wanted`, when given)."""
    if not is_staged(cfg):
        return task
    return StagedTask(task, UpstreamJoin.load(cfg, wanted))


def stamping(task: Task, write: Callable[[Any], None]) -> Callable[[Any], None]:
    """`write` adding to each record of a staged task what its prompt was given
    (`upstream`, after `result`); other tasks' records pass through untouched."""
    if not isinstance(task, StagedTask):
        return write

    def stamp(rec: Any) -> None:
        try:
            given = task.join.given(rec["__key"] if isinstance(rec, dict) else rec.key)
        except SampleError:
            given = None  # an upstream_error record: nothing was given
        if given is None:
            pass
        elif isinstance(rec, dict):
            out = {}
            for k, v in rec.items():
                out[k] = v
                if k == "result":
                    out[UPSTREAM_FIELD] = given
            rec = out
        else:
            rec.upstream = given
        write(rec)

    return stamp
