"""Checks of one answer on its own: its text, emptiness, truncation, repetition."""

from __future__ import annotations

import re
from typing import Any

from video_pipeline.io.record import Record

_WORD = re.compile(r"\w+")


def answer_text(rec: Record) -> str | None:
    """The answer as text: the strings of a parsed result (fields in order, list items
    one per line), else the model's raw text; None when the model gave no answer."""
    result = rec.result
    if rec.ok and isinstance(result, dict):
        return "\n".join(_strings(result))
    text = rec.text
    return text if isinstance(text, str) else None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [] if value is None else [str(value)]


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def is_empty(text: str) -> bool:
    return not text.strip()


def is_truncated(rec: Record) -> bool:
    """The engine stopped the answer at `sampling.max_tokens` (or the context length)."""
    return rec.finish_reason == "length"


def repeated_share(tokens: list[str], n: int) -> float:
    """Share of the answer's word n-grams that repeat an earlier one (0 = none repeats).

    An answer that loops ("a red car a red car a red car ...") scores near 1; 0 for an
    answer shorter than 2n words, too short to judge.
    """
    if len(tokens) < 2 * n:
        return 0.0
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams)


def shingles(tokens: list[str], size: int = 3) -> set[bytes]:
    """Word `size`-grams of an answer, the units of near-duplicate similarity; an answer
    shorter than `size` words is one shingle."""
    if len(tokens) < size:
        return {" ".join(tokens).encode()}
    return {" ".join(tokens[i : i + size]).encode() for i in range(len(tokens) - size + 1)}


def fill(value: Any) -> bool:
    """A structured field counts as filled when it holds a non-blank string or items."""
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, dict)):
        return bool(value)
    return value is not None
