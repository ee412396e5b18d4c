"""Error kinds of per-sample failures, and whether a retry may help."""

from __future__ import annotations

from typing import Any

# kind -> (transient, meaning). Transient kinds may succeed on a retry as they are;
# permanent ones need the input or the config to change first.
ERROR_KINDS: dict[str, tuple[bool, str]] = {
    "bad_row": (False, "the input line is not a JSON object"),
    "missing_video": (False, "the row has no usable video field"),
    "video_not_found": (False, "the video file does not exist"),
    "decode_error": (False, "the video could not be decoded"),
    "decode_timeout": (True, "decoding took longer than run.decode_timeout_s"),
    "too_many_tokens": (False, "the prompt would exceed vllm.max_model_len"),
    "engine_error": (True, "the engine rejected or failed this request"),
    "parse_error": (False, "the answer does not have the shape the task needs"),
    "internal_error": (True, "an unexpected error in the pipeline"),
}


class SampleError(Exception):
    """A failure of one sample; becomes an error record, never stops a rank."""

    def __init__(self, kind: str, message: str) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {kind!r}; known: {', '.join(ERROR_KINDS)}")
        super().__init__(message)
        self.kind = kind
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return error_dict(self.kind, self.message)


def error_dict(kind: str, message: str) -> dict[str, Any]:
    return {"kind": kind, "message": message, "transient": ERROR_KINDS[kind][0]}


class EngineFailure(RuntimeError):
    """The engine itself failed (not one request): the rank stops, its journal stays valid."""
