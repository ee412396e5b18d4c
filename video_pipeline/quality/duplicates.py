"""Answers copied across different videos: exact copies over all answers, near copies
(MinHash LSH over word 3-grams, `datasketch`) over a bounded sample.

Exact copies cost 16 bytes an answer (two hashes in numpy arrays), so every answer is
compared. Near copies need a MinHash signature per answer (1 KiB at 128 permutations)
and an LSH index, so they are searched among at most `max_answers` answers: those with
the smallest key hashes, a uniform sample that stays the same when the report is
built again. Clips of one video may well be described alike; only answers about
different videos count.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NONE = -1


def exact_copies(text_hash: np.ndarray, video_hash: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """For each answer, the index of an identical answer about another video, or -1."""
    partner = np.full(len(text_hash), NONE, dtype=np.int64)
    idx = np.flatnonzero(eligible)
    if len(idx) < 2:
        return partner
    order = idx[np.argsort(text_hash[idx], kind="stable")]
    th = text_hash[order]
    starts = np.flatnonzero(np.r_[True, th[1:] != th[:-1]])
    ends = np.r_[starts[1:], len(order)]
    for s, e in zip(starts[ends - starts > 1], ends[ends - starts > 1], strict=True):
        group = order[s:e]
        videos = video_hash[group]
        first = group[0]
        other = group[videos != videos[0]]
        if len(other) == 0:
            continue  # one video's clips, all alike
        partner[group[videos == videos[0]]] = other[0]
        partner[other] = first
    return partner


def near_copies(
    items: Sequence[tuple[int, set[bytes], int]],
    threshold: float,
    num_perm: int,
    batch: int = 5000,
) -> dict[int, tuple[int, float]]:
    """`items` are (answer index, shingles, video hash); returns index -> (index of a
    similar answer about another video, estimated Jaccard similarity)."""
    from datasketch import MinHash, MinHashLSH

    if threshold >= 1.0 or not items:  # only exact copies are that alike
        return {}
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    sigs: dict[int, MinHash] = {}
    video: dict[int, int] = {}
    found: dict[int, tuple[int, float]] = {}
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        for (i, _, vh), m in zip(
            chunk, MinHash.bulk([sorted(s) for _, s, _ in chunk], num_perm=num_perm), strict=True
        ):
            for j in lsh.query(m):
                if video[j] == vh:
                    continue
                sim = float(m.jaccard(sigs[j]))
                if sim >= threshold:  # LSH candidates include some below the threshold
                    found.setdefault(i, (j, sim))
                    found.setdefault(j, (i, sim))
            lsh.insert(i, m)
            sigs[i] = m
            video[i] = vh
    return found
