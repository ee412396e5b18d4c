"""One pass over a task's records: exact counts, per-record quality flags, quality.json.

Memory grows by about 50 bytes a record (numpy arrays: place on disk, key hash, flags,
lengths, token counts), plus the bounded near-duplicate sample; records themselves are
not kept. Flags:

- `empty`: the answer has no text (a parsed result whose strings are all blank, or an
  empty model text);
- `truncated`: the engine stopped at the token limit (`finish_reason: length`);
- `repetition`: more than `repetition_threshold` of the answer's word n-grams repeat;
- `near_duplicate`: the same answer, or one at least `near_duplicate_threshold` alike
  (Jaccard of word 3-grams), was given for a different video;
- `length_outlier`: the answer's length (generated tokens, else words) is far from the
  task's median: modified z-score |x - median| / (1.4826 MAD) above `length_outlier_z`
  (Iglewicz and Hoaglin; 1.2533 times the mean absolute deviation when MAD is 0).

The first three apply to every record with model text, errors included (a truncated
JSON answer is the usual cause of a `parse_error`); the last two compare results only.
"""

from __future__ import annotations

import hashlib
import heapq
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from video_pipeline.config.schema import QualityConfig
from video_pipeline.io.keys import key_hash
from video_pipeline.io.record import Record
from video_pipeline.quality import duplicates, text
from video_pipeline.quality.source import RecordSource

FLAGS = ("empty", "truncated", "repetition", "near_duplicate", "length_outlier")
BIT = {name: 1 << i for i, name in enumerate(FLAGS)}
MIN_ANSWERS_FOR_OUTLIERS = 10  # below this, a median says little
EXAMPLES = 5  # keys kept per flag in quality.json


@dataclass
class TaskScan:
    """What one pass learned about a task's records (index i = i-th record read)."""

    task: str
    source: RecordSource
    file_index: np.ndarray  # uint8
    offset: np.ndarray  # int64
    key_hash: np.ndarray  # int64
    ok: np.ndarray  # bool
    kind: np.ndarray  # int16 index into `kinds` (-1 for results)
    flags: np.ndarray  # uint8 bits of FLAGS
    partner: np.ndarray  # int64: a near copy of the answer, or -1
    prompt_tokens: np.ndarray  # int32, -1 when unknown
    generated_tokens: np.ndarray  # int32, -1 when unknown
    kinds: list[str]
    finish_reasons: Counter
    fill_counts: dict[str, int]
    similarity: dict[int, float] = field(default_factory=dict)
    lengths: dict[str, Any] = field(default_factory=dict)
    near: dict[str, Any] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    fingerprints: list[str] = field(default_factory=list)
    answers: int = 0  # records with model text

    def __len__(self) -> int:
        return len(self.offset)

    @property
    def n_ok(self) -> int:
        return int(self.ok.sum())

    def flag_counts(self) -> dict[str, int]:
        return {f: int(np.count_nonzero(self.flags & BIT[f])) for f in FLAGS}

    def errors_by_kind(self) -> dict[str, int]:
        counts = np.bincount(self.kind[self.kind >= 0], minlength=len(self.kinds))
        return {k: int(c) for k, c in zip(self.kinds, counts, strict=True) if c}

    def flag_names(self, i: int) -> list[str]:
        return [f for f in FLAGS if self.flags[i] & BIT[f]]

    def quality(self, cfg: QualityConfig) -> dict[str, Any]:
        """The contents of quality.json."""
        n_ok, answers = self.n_ok, self.answers
        counts = self.flag_counts()
        return {
            "task": self.task,
            "fingerprints": self.fingerprints,
            "records": len(self),
            "ok": n_ok,
            "failed": len(self) - n_ok,
            "errors_by_kind": self.errors_by_kind(),
            "finish_reasons": dict(self.finish_reasons.most_common()),
            "flags": counts,
            "answers": answers,
            "flag_share_of_answers": {
                f: round(c / answers, 4) if answers else 0.0 for f, c in counts.items()
            },
            "fill_rates": {
                f: round(c / n_ok, 4) if n_ok else 0.0 for f, c in self.fill_counts.items()
            },
            "lengths": self.lengths,
            "near_duplicates": self.near,
            "examples": self.examples,
            "thresholds": cfg.model_dump(),
        }


def scan_task(task: str, source: RecordSource, cfg: QualityConfig, video_field: str) -> TaskScan:
    """Read every record of `source` once and flag its answers."""
    p = _Pass(cfg, video_field)
    for i, (fi, off, rec) in enumerate(source):
        p.add(i, fi, off, rec)
    scan = TaskScan(
        task=task,
        source=source,
        file_index=np.frombuffer(p.file_index, dtype=np.uint8),
        offset=np.frombuffer(p.offsets, dtype=np.int64),
        key_hash=np.frombuffer(p.hashes, dtype=np.int64),
        ok=np.frombuffer(p.ok, dtype=np.int8).astype(bool),
        kind=np.frombuffer(p.kind, dtype=np.int16),
        flags=np.frombuffer(p.flags, dtype=np.uint8).copy(),
        partner=np.full(len(p.offsets), duplicates.NONE, dtype=np.int64),
        prompt_tokens=np.frombuffer(p.prompt, dtype=np.int32),
        generated_tokens=np.frombuffer(p.gen, dtype=np.int32),
        kinds=list(p.kinds),
        finish_reasons=p.finish,
        fill_counts=p.fill,
        examples=p.examples,
        fingerprints=[f for f in p.fps if f],
        answers=p.answers,
    )
    text_hash = np.frombuffer(p.text_hash, dtype=np.int64)
    _flag_copies(scan, text_hash, np.frombuffer(p.video_hash, dtype=np.int64), p.sample, cfg)
    _flag_outliers(scan, np.frombuffer(p.length, dtype=np.int32), cfg)
    return scan


class _Pass:
    """What the pass keeps of each record: compact arrays, counters, a bounded sample."""

    def __init__(self, cfg: QualityConfig, video_field: str) -> None:
        self.cfg, self.video_field = cfg, video_field
        self.file_index, self.offsets, self.hashes = array("B"), array("q"), array("q")
        self.ok, self.kind, self.flags = array("b"), array("h"), array("B")
        self.prompt, self.gen, self.length = array("i"), array("i"), array("i")
        self.text_hash, self.video_hash = array("q"), array("q")
        self.kinds: dict[str, int] = {}
        self.finish: Counter = Counter()
        self.fill: dict[str, int] = {}
        self.fps: dict[str, None] = {}
        self.examples: dict[str, list[str]] = {f: [] for f in FLAGS}
        self.sample: list[tuple[int, int, str, int]] = []  # (-key hash, index, text, video)
        self.answers = 0

    def add(self, i: int, file_index: int, offset: int, rec: Record) -> None:
        key = rec.key
        kh = key_hash(key)
        self.file_index.append(file_index)
        self.offsets.append(offset)
        self.hashes.append(kh)
        self.fps.setdefault(rec.fingerprint, None)
        is_ok = rec.ok
        self.ok.append(is_ok)
        kname = rec.error_kind or "unknown"
        self.kind.append(-1 if is_ok else self.kinds.setdefault(kname, len(self.kinds)))
        tokens = rec.tokens
        self.prompt.append(tokens.prompt if tokens is not None else -1)
        self.gen.append(tokens.generated if tokens is not None else -1)
        answer = text.answer_text(rec)
        tokens_of_answer = text.words(answer) if answer is not None else []
        bits = self._flags(rec, answer, tokens_of_answer)
        self.flags.append(bits)
        for f in FLAGS:
            if bits & BIT[f] and len(self.examples[f]) < EXAMPLES:
                self.examples[f].append(key)
        vh = key_hash(_video_of(rec, self.video_field, key))
        self.video_hash.append(vh)
        if is_ok and tokens_of_answer:
            digest = hashlib.blake2b(" ".join(tokens_of_answer).encode(), digest_size=8).digest()
            self.text_hash.append(int.from_bytes(digest, "little") >> 1)
            self._sample((-kh, i, answer or "", vh))
        else:
            self.text_hash.append(-1)
        length = self.gen[-1] if self.gen[-1] >= 0 else len(tokens_of_answer)
        self.length.append(length if is_ok else -1)
        if is_ok and isinstance(rec.result, dict):
            for name, value in rec.result.items():
                self.fill[name] = self.fill.get(name, 0) + int(text.fill(value))

    def _flags(self, rec: Record, answer: str | None, tokens: list[str]) -> int:
        """The flags one answer raises on its own."""
        if answer is None:
            return 0
        self.answers += 1
        self.finish[str(rec.finish_reason)] += 1
        bits = 0
        if text.is_empty(answer):
            bits |= BIT["empty"]
        if text.is_truncated(rec):
            bits |= BIT["truncated"]
        if text.repeated_share(tokens, self.cfg.repetition_ngram) > self.cfg.repetition_threshold:
            bits |= BIT["repetition"]
        return bits

    def _sample(self, entry: tuple[int, int, str, int]) -> None:
        """Keep the answers of the smallest key hashes (a heap of the largest negated)."""
        k = self.cfg.near_duplicate_max_answers
        if len(self.sample) < k:
            heapq.heappush(self.sample, entry)
        elif k and entry > self.sample[0]:
            heapq.heapreplace(self.sample, entry)


def _video_of(rec: Record, video_field: str, key: str) -> str:
    """What identifies the record's video: clips of one video share it."""
    if rec.video_key is not None:
        return rec.video_key
    raw = rec.raw
    if isinstance(raw, dict) and isinstance(raw.get(video_field), str):
        return raw[video_field]
    return key


def _flag_copies(
    scan: TaskScan,
    text_hash: np.ndarray,
    video_hash: np.ndarray,
    sample: list[tuple[int, int, str, int]],
    cfg: QualityConfig,
) -> None:
    partner = duplicates.exact_copies(text_hash, video_hash, text_hash >= 0)
    exact = partner >= 0
    items = [
        (i, text.shingles(text.words(t)), vh) for _, i, t, vh in sorted(sample, key=lambda e: e[1])
    ]
    near = duplicates.near_copies(items, cfg.near_duplicate_threshold, cfg.near_duplicate_num_perm)
    for i, (j, sim) in near.items():
        if partner[i] < 0:
            partner[i] = j
            scan.similarity[i] = round(sim, 3)
    scan.partner = partner
    flagged = partner >= 0
    scan.flags[flagged] |= BIT["near_duplicate"]
    _examples(scan, "near_duplicate", flagged)
    scan.near = {
        "exact_copies": int(exact.sum()),
        "near_copies": int((flagged & ~exact).sum()),
        "compared_by_minhash": len(items),
        "answers": int((text_hash >= 0).sum()),
        "sampled": len(items) < int((text_hash >= 0).sum()),
    }


def _flag_outliers(scan: TaskScan, length: np.ndarray, cfg: QualityConfig) -> None:
    values = length[length >= 0].astype(np.float64)
    if len(values) == 0:
        return
    median = float(np.median(values))
    dev = np.abs(values - median)
    mad = float(np.median(dev))
    scale = 1.4826 * mad if mad > 0 else 1.2533 * float(dev.mean())
    scan.lengths = {
        "unit": "generated tokens" if (scan.generated_tokens >= 0).any() else "words",
        "answers": len(values),
        "median": median,
        "p5": float(np.percentile(values, 5)),
        "p95": float(np.percentile(values, 95)),
        "mad": mad,
        "low": None,
        "high": None,
    }
    if len(values) < MIN_ANSWERS_FOR_OUTLIERS or scale == 0:
        return
    lo, hi = median - cfg.length_outlier_z * scale, median + cfg.length_outlier_z * scale
    scan.lengths.update(low=round(lo, 2), high=round(hi, 2))
    out = (length >= 0) & ((length < lo) | (length > hi))
    scan.flags[out] |= BIT["length_outlier"]
    _examples(scan, "length_outlier", out)


def _examples(scan: TaskScan, flag: str, mask: np.ndarray) -> None:
    """Keys of the first flagged records, read back from disk."""
    scan.examples[flag] = [
        scan.source.read(int(scan.file_index[i]), int(scan.offset[i])).key
        for i in np.flatnonzero(mask)[:EXAMPLES]
    ]
