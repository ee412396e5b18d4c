"""The upstream join: per sample, the upstream records of its key and the filled prompt.

A staged task reads its upstream tasks' records (journals, merged outputs or workflow
parts) under their current fingerprints, keyed by `__key`. For each sample the
template's placeholders are filled from them and from the input row; a row without a
named field is a `missing_field` error, an upstream error or a missing upstream answer
an `upstream_error` naming the task, never a prompt with "None" in it. Each record of
the task carries what its prompt was given: `upstream: {task: {text, result}}`.

An upstream may also join many to one (`join: video`): a sample is a whole video and
its upstream records are the video's clip records, keyed by their `video_key`, in time
order (`clips.summary`); it is given `{task: {clips: [{index, start, end, text,
result}, ...]}}`, the clips that answered.
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
JOIN = "join"  # an upstream's entry: how its records meet a sample (by key by default)
BY_VIDEO = "video"  # many to one: a video's clip records, by their video key


def record_files(records: str | Path) -> list[Path]:
    """Where a task's records are: its merged output and errors, then its journals
    (a launch output), or a workflow part and its errors."""
    stem = output_stem(records)
    return [Path(records), Path(f"{stem}.errors.jsonl"), *journal_paths(records)]


class UpstreamJoin:
    """The upstream records of a staged task: by key `{task: {key: record}}`, and for
    a many-to-one upstream by video `{task: {video key: {clip key: record}}}`."""

    def __init__(
        self,
        records: dict[str, dict[str, Record]],
        videos: dict[str, dict[str, dict[str, Record]]] | None = None,
    ) -> None:
        self.records = records
        self.videos = videos or {}

    @property
    def names(self) -> list[str]:
        return [*self.records, *self.videos]

    @classmethod
    def load(cls, cfg: Config, wanted: Iterable[int] | None = None) -> UpstreamJoin:
        """The upstream records of `cfg`, only of the keys whose hashes are `wanted`
        (a rank's rows to run) when given: memory bounded by the rank's work. A
        many-to-one upstream's records are kept by their video's key."""
        keep = None if wanted is None else {int(h) for h in wanted}
        by_key: dict[str, dict[str, Record]] = {}
        by_video: dict[str, dict[str, dict[str, Record]]] = {}
        for name, up in upstream_of(cfg).items():
            video = up.get(JOIN) == BY_VIDEO
            found: dict[str, Record] = {}
            for path in record_files(up[RECORDS]):
                for _, rec in iter_records(path):
                    if rec.fingerprint != up["fingerprint"]:
                        continue
                    joined = (rec.video_key or rec.key) if video else rec.key
                    if keep is not None and key_hash(joined) not in keep:
                        continue
                    had = found.get(rec.key)
                    if rec.ok or had is None or not had.ok:  # a result wins over an error
                        found[rec.key] = rec
            if not video:
                by_key[name] = found
                continue
            clips: dict[str, dict[str, Record]] = {}
            for rec in found.values():
                clips.setdefault(rec.video_key or rec.key, {})[rec.key] = rec
            by_video[name] = clips
        return cls(by_key, by_video)

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
        for name, videos in self.videos.items():
            ok = [r for r in (videos.get(key) or {}).values() if r.ok]
            if not ok:
                raise SampleError("upstream_error", f"{name}: no clip of this video has an answer")
            out[name] = {"clips": [_clip_given(r) for r in sorted(ok, key=_clip_start)]}
        return out


def _clip_start(rec: Record) -> tuple[float, int]:
    clip = rec.clip or {}
    return float(clip.get("start", 0.0)), int(clip.get("index", 0))


def _clip_given(rec: Record) -> dict[str, Any]:
    clip = rec.clip or {}
    bounds = {k: clip[k] for k in ("index", "start", "end") if k in clip}
    return {**bounds, "text": rec.text, "result": rec.result}


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


ESTIMATE_WORD = "word "  # one token in common tokenizers: an answer of n tokens


def estimated(refs: list[Ref], raw: Any, max_tokens: dict[str, int]) -> dict[str, str]:
    """Each placeholder's text where the upstream has not answered yet (preflight): the
    row's fields as they are, an upstream answer (or a field of it) as long as that
    task's `sampling.max_tokens` allows, an upper bound of its tokens."""
    values = fill([r for r in refs if r.kind == RAW], {}, raw)
    for ref in refs:
        if ref.kind != RAW:
            values[ref.placeholder] = ESTIMATE_WORD * max_tokens[ref.source]
    return values


class StagedTask(Task):
    """A task whose prompt is a template over its upstream's answers: the registered
    task `inner`, given per sample its params with the templates filled in.

    `estimate` ({upstream: max_tokens}, preflight only): a sample whose upstream has
    not answered gets a prompt with answers of that many tokens, not `upstream_error`."""

    def __init__(
        self, inner: Task, join: UpstreamJoin, estimate: dict[str, int] | None = None
    ) -> None:
        super().__init__(**inner.params)
        self.inner = inner
        self.join = join
        self.estimate = estimate
        self.name = inner.name  # type: ignore[misc]  (records name the registered task)
        self.dataset_name = inner.dataset_name  # type: ignore[misc]
        names = list(join.records)
        # A many-to-one task (a video's summary) reads its clips from the sample's
        # `upstream`; its prompt is the task's own, not a template.
        self.templates = {
            k: (v, parse(v, names))
            for k, v in inner.params.items()
            if k in TEMPLATED and isinstance(v, str) and not join.videos
        }

    def build_messages(self, sample: Any) -> list[dict[str, Any]]:
        for _, refs in self.templates.values():  # the row's own fault first: permanent
            fill([r for r in refs if r.kind == RAW], {}, sample["raw"])
        try:
            given: dict[str, dict[str, Any]] | None = self.join.given(sample["__key"])
        except SampleError:
            if self.estimate is None:
                raise
            given = None
        params = dict(self.inner.params)
        for key, (template, refs) in self.templates.items():
            values = (
                fill(refs, given, sample["raw"])
                if given is not None
                else estimated(refs, sample["raw"], self.estimate or {})
            )
            params[key] = render(template, values)
        return type(self.inner)(**params).build_messages({**sample, UPSTREAM_FIELD: given})

    def answered(self, key: str) -> bool:
        """Whether every upstream task has answered `key` (its prompt is filled)."""
        try:
            self.join.given(key)
        except SampleError:
            return False
        return True

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
