"""Rows of the input as samples: key, raw row and the video value, read lazily."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from video_pipeline.data.sample import Clip, Sample
from video_pipeline.errors import SampleError
from video_pipeline.io.jsonl import InputIndex, RowError, RowReader, parse_line
from video_pipeline.io.keys import line_key, row_key
from video_pipeline.storage.urls import is_remote


class SampleSource:
    """A selection of input rows (by index), each read from disk when asked for.

    Holds only integer arrays, so forking DataLoader workers copies almost nothing.
    """

    def __init__(
        self,
        index: InputIndex,
        selected: Sequence[int] | np.ndarray,
        video_field: str,
        id_field: str | None,
        base_dir: str | None = None,
    ) -> None:
        self.index = index
        self.selected = np.asarray(selected, dtype=np.int64)
        self.video_field = video_field
        self.id_field = id_field
        # Where relative video paths resolve: the input's folder unless the rows were
        # copied elsewhere (shards, clip rows) from an input in `base_dir`.
        base = base_dir or str(Path(index.path).parent)
        self.base_dir: str | Path = base if is_remote(base) else Path(base).resolve()
        self._reader = RowReader(index)

    def __len__(self) -> int:
        return len(self.selected)

    def __getitem__(self, i: int) -> Sample:
        """The row's Sample (read as `{"__key", "raw", "__video"}` by seed-style code);
        raises SampleError carrying the key."""
        lineno, line = self._reader.read(int(self.selected[i]))
        try:
            raw = parse_line(line, lineno)
        except RowError as e:
            raise KeyedSampleError(line_key(lineno), None, "bad_row", str(e)) from None
        try:
            key = row_key(raw, self.video_field, self.id_field)
        except KeyError as e:
            raise KeyedSampleError(line_key(lineno), raw, "missing_video", str(e.args[0])) from None
        if "__error" in raw:  # a bad line the shard step carried over with its key
            kind = raw.get("__error_kind", "bad_row")
            raise KeyedSampleError(key, raw, kind, str(raw["__error"]))
        video_key = raw.get("video_key") if isinstance(raw.get("clip"), dict) else None
        return Sample(key, raw, raw.get(self.video_field), clip_of(raw), video_key=video_key)


def clip_of(raw: dict[str, Any]) -> Clip | None:
    """The clip a row's `video_start`/`video_end` name, None for a whole video."""
    start, end = (raw.get(k) for k in ("video_start", "video_end"))
    if start is None and end is None:
        return None
    index = (raw.get("clip") or {}).get("index") if isinstance(raw.get("clip"), dict) else None
    number = (int, float)
    return Clip(
        float(start) if isinstance(start, number) else None,
        float(end) if isinstance(end, number) else None,
        index,
    )


class KeyedSampleError(SampleError):
    def __init__(self, key: str, raw: dict[str, Any] | None, kind: str, message: str) -> None:
        super().__init__(kind, message)
        self.key = key
        self.raw = raw
