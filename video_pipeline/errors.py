"""Error kinds of per-sample failures: whether a plain rerun retries them, and what they mean."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from video_pipeline.io.record import RecordError


@dataclass(frozen=True)
class ErrorKind:
    # A plain rerun tries the sample again. Permanent kinds stay done until the input or
    # the config changes, or `--retry-errors` asks for one more try.
    transient: bool
    # The row itself is at fault (a missing file, an over-long video): such failures say
    # nothing about the setup, so they never count towards stopping a broken run.
    of_the_row: bool
    meaning: str


ERROR_KINDS: dict[str, ErrorKind] = {
    "bad_row": ErrorKind(False, True, "the input line is not a JSON object"),
    "missing_video": ErrorKind(False, True, "the row has no usable video field"),
    "video_not_found": ErrorKind(False, True, "the video file does not exist"),
    "not_a_file": ErrorKind(False, True, "the video path is a folder, FIFO or device"),
    "fetch_error": ErrorKind(True, False, "fetching the remote video failed after retries"),
    "fetch_denied": ErrorKind(True, False, "the storage refused access (credentials)"),
    "decode_error": ErrorKind(False, False, "the video could not be decoded"),
    "decode_crash": ErrorKind(False, False, "the decoder process died (signal or exit)"),
    "video_too_large": ErrorKind(
        False, True, "its frames would not fit the decode bound: split it with clips"
    ),
    "audio_decode_error": ErrorKind(False, False, "the video's audio track could not be decoded"),
    "decode_timeout": ErrorKind(False, False, "decoding took longer than run.decode_timeout_s"),
    "too_many_tokens": ErrorKind(False, True, "the prompt would exceed vllm.max_model_len"),
    "engine_error": ErrorKind(True, False, "the engine rejected or failed this request"),
    "parse_error": ErrorKind(False, True, "the answer does not have the shape the task needs"),
    "missing_field": ErrorKind(False, True, "the row lacks a field the prompt template names"),
    # Retried by a plain rerun: the upstream task may have answered since.
    "upstream_error": ErrorKind(True, True, "a task in `after` failed or has no answer"),
    "internal_error": ErrorKind(True, False, "task code, chat template or pipeline failed"),
}

MAX_MESSAGE = 600  # characters of an error message kept in a record


class SampleError(Exception):
    """A failure of one sample; becomes an error record, never stops a rank."""

    def __init__(self, kind: str, message: str) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {kind!r}; known: {', '.join(ERROR_KINDS)}")
        super().__init__(message)
        self.kind = kind
        self.message = message

    def record_error(self) -> RecordError:
        return record_error(self.kind, self.message)

    def to_dict(self) -> dict[str, Any]:
        """The error as a dataset item in the seed's contract holds it."""
        return self.record_error().to_dict()


def record_error(kind: str, message: str) -> RecordError:
    """The error of a record: its kind's retry rule, the message cleaned and bounded."""
    return RecordError(kind, bounded(without_native_frames(message)), ERROR_KINDS[kind].transient)


# "SingleStreamDecoder, /__w/.../SingleStreamDecoder.cpp:41, Could not open ...": the
# native source location decoders put in their messages, which says nothing to a user
_SOURCE_LOCATION = re.compile(r"(?:\b\w+, )?/[^\s,]+\.(?:cpp|cc|cxx|c|h|hpp):\d+,?\s*")
# c10's "Exception raised from f at file.cpp:N (most recent call first):" and its frames
_NATIVE_TRACE = re.compile(r"\s*\(?Exception raised from .*", re.DOTALL)


def without_native_frames(message: str) -> str:
    """A decoder's message without C++ source paths and native stack frames."""
    return _NATIVE_TRACE.sub("", _SOURCE_LOCATION.sub("", message)).strip() or message


def bounded(message: str, limit: int = MAX_MESSAGE) -> str:
    """A message cut to `limit` characters (a processor error can hold the repr of a
    whole frame tensor)."""
    if len(message) <= limit:
        return message
    return f"{message[:limit]}... [{len(message) - limit} more characters cut]"


def describe_exception(e: BaseException) -> str:
    return bounded(f"{type(e).__name__}: {e}".strip())


class EngineFailure(RuntimeError):
    """The engine itself failed (not one request): the rank stops, its journal stays valid."""


class SystemicFailure(RuntimeError):
    """Failures show the run itself is broken: the rank stops instead of recording them."""
