"""Telling a broken run from bad videos: a streak of identical failures stops the rank.

A broken chat template, a bug in a task's `build_messages`, a missing module or a
decoder that cannot load fails every sample the same way. Recording a million such
errors would look like success; instead, when `run.max_consecutive_failures` samples in
a row fail with the same kind and message, the rank stops with one message naming it.

The records of a streak are held back until the streak breaks (a result, or another
failure), so a stopped run journals none of them: once the setup is fixed, a plain
rerun does those samples again, whatever their kind. Failures that belong to the row
itself (a missing file, an over-long video, an unparsable answer) say nothing about the
setup and neither count nor break a streak.
"""

from __future__ import annotations

from collections.abc import Callable

from video_pipeline.errors import ERROR_KINDS, SystemicFailure
from video_pipeline.io.record import Record


class FailureWatch:
    def __init__(self, limit: int | None, write: Callable[[Record], None]) -> None:
        self.limit = limit or 0  # 0: never stop
        self._write = write
        self._signature: tuple[str, str] | None = None
        self._held: list[Record] = []

    def ok(self, record: Record) -> None:
        self.flush()
        self._write(record)

    def failed(self, record: Record) -> None:
        """Journal an error record, or hold it while it extends a streak."""
        error = record.error
        assert error is not None, "an error record without its error"
        if self.limit == 0 or ERROR_KINDS[error.kind].of_the_row:
            self._write(record)
            return
        signature = (error.kind, _normalise(error.message, record))
        if signature != self._signature:
            self.flush()
            self._signature = signature
        self._held.append(record)
        if len(self._held) >= self.limit:
            kind = signature[0]
            raise SystemicFailure(
                f"the last {len(self._held)} samples all failed with {kind}: "
                f"{error.message}. This points at the setup (model, chat template, task "
                "code, video reader), not at the videos, so the rank stops instead of "
                "recording it for every video; none of these samples was journaled, and a "
                "rerun after the fix does them again. If these videos really are all bad, "
                "raise run.max_consecutive_failures (0 disables this check)."
            )

    def flush(self) -> None:
        """The streak is broken: its records were real per-sample failures."""
        for record in self._held:
            self._write(record)
        self._held.clear()
        self._signature = None


def _normalise(message: str, record: Record) -> str:
    """The message with the sample's own key and path taken out, so that the same
    failure on different videos compares equal."""
    key = record.key
    if isinstance(key, str) and key:
        message = message.replace(key, "<key>")
    raw = record.raw
    if isinstance(raw, dict):
        for value in raw.values():
            if isinstance(value, str) and len(value) > 3:
                message = message.replace(value, "<field>")
    return message
