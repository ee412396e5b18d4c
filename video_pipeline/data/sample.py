"""The typed records a sample travels in, from its input row to its journal record.

`Sample` is a row as a unit of work: its key, the raw row, the video it names, the
clip of it when the row has bounds. Tasks' `build_messages` receive it; it also reads
as the seed's dict (`sample["__video_uri"]`, `sample["__key"]`, `sample["raw"]`), so
tasks written for the seed keep working.

`Prepared` is what decoding makes of a sample for the tasks waiting on it (one engine
input each), or the error that stops it; it crosses from a decode worker to the rank.
A dataset that overrides `__getitem__` and returns the seed's dict is read into one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from video_pipeline.io.record import Audio, RecordError

_SEED_KEYS = {"__key": "key", "raw": "raw", "__video": "video", "__video_uri": "video_uri"}


@dataclass(frozen=True)
class Clip:
    """Bounds within the video file, in seconds (None: from the start / to the end)."""

    start: float | None
    end: float | None
    index: int | None = None  # the clip's place in its video, when the input was split


@dataclass
class Sample(Mapping):
    key: str
    raw: dict[str, Any]
    video: Any  # the row's video field as written
    clip: Clip | None = None
    video_uri: Any = None  # what the reader opens, set by the dataset
    video_key: str | None = None  # the video a clip belongs to (its roll-up)

    # The seed's dict view: tasks and datasets written against it read these keys.
    def __getitem__(self, name: str) -> Any:
        if name in _SEED_KEYS:
            return getattr(self, _SEED_KEYS[name])
        raise KeyError(name)

    def __setitem__(self, name: str, value: Any) -> None:
        if name not in _SEED_KEYS:
            raise KeyError(f"a sample has no field {name!r}; known: {', '.join(_SEED_KEYS)}")
        setattr(self, _SEED_KEYS[name], value)

    def __iter__(self) -> Iterator[str]:
        return iter(_SEED_KEYS)

    def __len__(self) -> int:
        return len(_SEED_KEYS)


@dataclass
class Parts:
    """One task's input answered by several requests, gathered into one record: a long
    soundtrack's windows, each a request of its own (a Whisper prompt holds 30 s).

    `inputs` are the engine inputs; `meta[k]` is what the task's `parse_parts` reads of
    part k (its times). No parts is a valid input: the task parses an empty answer.
    """

    inputs: list[dict[str, Any]]
    meta: list[dict[str, Any]]


@dataclass
class Prepared:
    """A sample after decoding: one engine input per waiting task, or an error."""

    index: int  # its place in the rank's selection: names it while in flight
    key: str | None
    raw: Any
    tasks: list[int]  # indices of the tasks it serves
    inputs: list[Any] | None = None  # one per entry of `tasks`: an input dict, or Parts
    error: RecordError | None = None
    decode_s: float = 0.0
    decodes: int = 1
    decode_stats: dict[str, Any] | None = None  # the decode's CPU time, frames, peak RSS
    clip: Clip | None = None
    video_key: str | None = None
    # what the model hears, per entry of `tasks` (None: that task does not hear)
    audio: list[Audio | None] | None = None

    def heard_by(self, task: int) -> Audio | None:
        """The audio facts of task `task`'s request (an index into the rank's tasks)."""
        if self.audio is None or task not in self.tasks:
            return None
        return self.audio[self.tasks.index(task)]

    @classmethod
    def from_item(cls, index: int, item: Mapping[str, Any], tasks: list[int]) -> Prepared:
        """From a dataset's item in the seed's contract (`{__key, raw, llm_input(s)}` or
        `{__key, raw, error}`)."""
        inputs = item.get("llm_inputs")
        if inputs is None and "llm_input" in item:
            inputs = [item["llm_input"]]
        error = item.get("error")
        return cls(
            index=index,
            key=item.get("__key"),
            raw=item.get("raw"),
            tasks=list(item.get("tasks", tasks)),
            inputs=None if "error" in item else inputs,
            error=None if error is None else _record_error(error),
            decode_s=float(item.get("decode_s", 0.0)),
            decodes=int(item.get("decodes", 1)),
            decode_stats=item.get("decode_stats"),
        )

    def to_item(self) -> dict[str, Any]:
        """The seed's dataset item for one task: `{__key, raw, llm_input}` or
        `{__key, raw, error}`, with the decode's figures."""
        item: dict[str, Any] = {"__key": self.key, "raw": self.raw}
        if self.error is not None:
            item["error"] = self.error.to_dict()
        else:
            item["llm_input"] = (self.inputs or [None])[0]
            item["decodes"] = self.decodes
        item["decode_s"] = self.decode_s
        if self.decode_stats is not None:
            item["decode_stats"] = self.decode_stats
        return item


def _record_error(error: Any) -> RecordError:
    """A dataset's error: a RecordError, or its dict as the seed's items hold it."""
    return error if isinstance(error, RecordError) else RecordError.from_dict(error)
