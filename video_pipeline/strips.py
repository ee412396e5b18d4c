"""Thumbnail strips the run keeps, so that a report never decodes a video again.

With `run.thumbnails` on, the render thread turns each decoded sample's frames into a
few small JPEGs (STRIP_FRAMES frames spread over the sampled ones, at most STRIP_PX
pixels on a side, each JPEG at most MAX_JPEG_BYTES) and appends one line per sample
to a sidecar of each task's rank journal, `<stem>.rank<N>.strips`:

    {"__key": ..., "fingerprint": ..., "sampled": 8, "width": 56, "height": 56,
     "frames": [{"t": 0.5, "jpeg": "<base64>"}, ...]}

The sidecar is not a journal (`.strips`, not `.jsonl`, so no journal glob matches it)
and the journal's records are untouched: a strip is written before its sample's
record, a crash can leave a torn last line (skipped when read) or a strip without a
record (never shown). Merge carries the strips of the merged keys to `<stem>.strips`
beside the results, in the same published set; the report reads them there, or in the
rank sidecars before a merge, and decodes only videos without one.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import threading
import time
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from video_pipeline.io.journal import journal_paths, output_stem
from video_pipeline.io.jsonl import dumps_line

STRIP_FRAMES = 4
STRIP_PX = 160
MAX_JPEG_BYTES = 16384
QUALITIES = (75, 50, 30)  # a JPEG over MAX_JPEG_BYTES is encoded again, smaller


def strips_path(output_or_journal: str | Path) -> Path:
    """`o.strips` for an output `o.jsonl`, `o.rank0.strips` for its journal."""
    return Path(f"{output_stem(output_or_journal)}.strips")


def make_strip(video: Any) -> dict[str, Any] | None:
    """The strip of a decoded video (`(frames, metadata)` or frames: T x C x H x W,
    uint8 or float 0-255), None when there are no frames."""
    import torch
    from PIL import Image

    frames, meta = (video[0], video[1]) if isinstance(video, tuple) else (video, {})
    x = torch.as_tensor(frames)
    if x.ndim != 4 or x.shape[0] == 0:
        return None
    n, _c, h, w = x.shape
    picks = np.unique(np.linspace(0, n - 1, min(n, STRIP_FRAMES)).round().astype(int))
    x = x[torch.from_numpy(picks)]
    if x.dtype != torch.uint8:
        x = x.round().clamp(0, 255).to(torch.uint8)
    scale = min(1.0, STRIP_PX / max(h, w))
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if size != (h, w):  # before the layout change: 1/10 of the bytes to move
        x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", antialias=True)
    hwc = x.permute(0, 2, 3, 1).contiguous().numpy()
    fps = float((meta or {}).get("fps") or 0)
    indices = list((meta or {}).get("frames_indices") or [])
    out = []
    for img, j in zip(hwc, picks, strict=True):
        t = indices[j] / fps if fps and j < len(indices) else None
        jpeg = _jpeg(Image.fromarray(img))
        out.append({"t": None if t is None else round(t, 3), "jpeg": jpeg})
    return {"sampled": int(n), "width": int(w), "height": int(h), "frames": out}


def _jpeg(img: Any) -> str:
    for quality in QUALITIES:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=quality)
        if buf.tell() <= MAX_JPEG_BYTES:
            break
    return base64.b64encode(buf.getvalue()).decode("ascii")


class StripWriter:
    """Appends strips to one task's rank sidecar; safe from several render threads."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self._lock = threading.Lock()
        self._f = open(path, "ab")  # noqa: SIM115 (closed by close())
        self.written = 0
        self.bytes = 0
        self.seconds = 0.0  # making and writing, in the render thread

    def write(self, key: str, strip: dict[str, Any], made_s: float = 0.0) -> None:
        t0 = time.perf_counter()
        line = dumps_line({"__key": key, "fingerprint": self.fingerprint, **strip})
        with self._lock:
            self._f.write(line)
            self._f.flush()  # whole lines reach the file; a crash tears the last at most
            self.written += 1
            self.bytes += len(line)
            self.seconds += made_s + time.perf_counter() - t0

    def close(self) -> None:
        with self._lock:
            self._f.close()


def write_sample_strip(writers: list[StripWriter | None], key: str | None, inputs: Any) -> None:
    """The strip of a rendered sample's video, to the sidecar of each of `writers`."""
    live = [w for w in writers if w is not None]
    if not live or key is None or not inputs or not isinstance(inputs[0], dict):
        return  # no video decoded (e.g. a soundtrack's windows)
    t0 = time.perf_counter()
    videos = (inputs[0].get("multi_modal_data") or {}).get("video") or []
    strip = make_strip(videos[0]) if videos else None
    if strip is None:
        return
    made = (time.perf_counter() - t0) / len(live)
    for w in live:
        w.write(key, strip, made)


class StripIndex:
    """Where each key's strip is: the last complete line of the right fingerprint."""

    def __init__(
        self,
        files: Iterable[Path],
        fingerprint: str | None = None,
        keys: Collection[str] | None = None,
    ) -> None:
        """`keys`: index only these (a report's shown records), so that memory stays
        bounded whatever the number of strips."""
        self.files = [Path(p) for p in files if Path(p).is_file()]
        self.where: dict[str, tuple[int, int]] = {}
        for i, path in enumerate(self.files):
            for offset, key, fp in _heads(path):
                if (fingerprint is None or fp == fingerprint) and (keys is None or key in keys):
                    self.where[key] = (i, offset)

    @classmethod
    def of_output(cls, output_jsonl: str | Path, fingerprint: str) -> StripIndex:
        """The merged strips beside a merged output, else the rank sidecars."""
        merged = strips_path(output_jsonl)
        if merged.is_file():
            return cls([merged])
        return cls([strips_path(j) for j in journal_paths(output_jsonl)], fingerprint)

    def __len__(self) -> int:
        return len(self.where)

    def get(self, key: str) -> dict[str, Any] | None:
        loc = self.where.get(key)
        if loc is None:
            return None
        with open(self.files[loc[0]], "rb") as f:
            f.seek(loc[1])
            return json.loads(f.readline())

    def write(self, keys: Iterable[str], dest: Path) -> int:
        """The strips of `keys` (those that have one) into `dest`; returns how many."""
        n = 0
        with open(dest, "wb") as out:
            handles = [open(p, "rb") for p in self.files]  # noqa: SIM115 (closed below)
            try:
                for key in keys:
                    loc = self.where.get(key)
                    if loc is None:
                        continue
                    h = handles[loc[0]]
                    h.seek(loc[1])
                    out.write(h.readline())
                    n += 1
            finally:
                for h in handles:
                    h.close()
            out.flush()
            os.fsync(out.fileno())
        return n


_HEAD = '{"__key": '
_FP_RE = re.compile(r', "fingerprint": "(\w*)"')


def _heads(path: Path) -> Iterable[tuple[int, str, str]]:
    """(offset, key, fingerprint) of each complete line, read from its first fields
    alone (a line holds kilobytes of JPEG); torn or corrupt lines are skipped."""
    decoder = json.JSONDecoder()
    with open(path, "rb") as f:
        offset = 0
        for line in f:
            start, offset = offset, offset + len(line)
            if not line.endswith(b"\n") or not line.endswith(b"}\n"):
                continue
            try:
                text = line[:4096].decode("utf-8", errors="ignore")
                key, end = decoder.raw_decode(text, len(_HEAD))
            except (json.JSONDecodeError, ValueError):
                continue
            m = _FP_RE.match(text, end)
            if text.startswith(_HEAD) and isinstance(key, str) and m is not None:
                yield start, key, m.group(1)
