"""One input row -> its clip rows: the samples of a video split into clips.

A clip row is the input row with the clip's bounds as `video_start` / `video_end` (the
fields the dataset already hands to qwen_vl_utils), its own `__key`
(`<video key>#t=<start>,<end>`), the key of the row it came from (`video_key`, which
names the roll-up), `clip: {index, start, end}` and the file's `video_duration`.

A row with its own bounds is expanded within them; its clips are keyed by the file's
key without a fragment (never two fragments in one key) and rolled up under the row's
own key. A video that cannot be probed becomes one error row under the row's key, in
the form the shard step carries bad lines (`__error`, `__error_kind`), which the
dataset turns into an error record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from video_pipeline.clips.probe import VideoProbe, probe_video, video_location
from video_pipeline.clips.shots import ShotsUnavailable, detect_cuts
from video_pipeline.clips.spans import Clip, fixed_windows, shot_windows
from video_pipeline.config.schema import ClipsConfig
from video_pipeline.errors import SampleError, record_error
from video_pipeline.io.keys import KEY_FIELD, clip_key, row_key
from video_pipeline.io.record import RecordError

VIDEO_KEY_FIELD = "video_key"
CLIP_FIELD = "clip"
DURATION_FIELD = "video_duration"
BOUND_FIELDS = ("video_start", "video_end")
ERROR_FIELD, ERROR_KIND_FIELD = "__error", "__error_kind"  # as the shard step writes them
# What expansion adds to a row; the rest is the user's row, passed through as `raw`.
ADDED_FIELDS = (KEY_FIELD, VIDEO_KEY_FIELD, CLIP_FIELD, DURATION_FIELD, *BOUND_FIELDS)


@dataclass(frozen=True)
class ExpandOptions:
    """How rows are read and split; one frozen object, so process pools can take it."""

    clips: ClipsConfig
    video_field: str = "path"
    id_field: str | None = None
    base_dir: str = "."  # relative video paths resolve against it (the input's folder)


@dataclass
class Expansion:
    """The rows one input row became, and what was learnt about its video."""

    key: str  # the row's own key: names the roll-up, and the error of a failed probe
    rows: list[dict[str, Any]]
    probe: VideoProbe | None = None
    clips: list[Clip] = field(default_factory=list)
    error: RecordError | None = None

    def probe_record(self) -> dict[str, Any]:
        """One line of the probe report (what preflight reads instead of probing again)."""
        out: dict[str, Any] = {KEY_FIELD: self.key}
        if self.probe is not None:
            out.update(self.probe.to_dict())
        out["clips"] = len(self.clips)
        out["error"] = self.error.to_dict() if self.error is not None else None
        return out


def is_clip_row(row: dict[str, Any]) -> bool:
    """Whether a row is one that expansion wrote (a user's own `clip` field is not)."""
    clip = row.get(CLIP_FIELD)
    return (
        KEY_FIELD in row
        and VIDEO_KEY_FIELD in row
        and isinstance(clip, dict)
        and {"index", "start", "end"} <= clip.keys()
    )


def is_expansion_row(row: dict[str, Any]) -> bool:
    """A clip row, or the error row of a video expansion could not probe."""
    return is_clip_row(row) or (KEY_FIELD in row and VIDEO_KEY_FIELD in row and ERROR_FIELD in row)


def video_keys(row: dict[str, Any], video_field: str, id_field: str | None) -> tuple[str, str]:
    """(the row's own key, the key its clips are named after).

    They differ for a row with its own bounds and no `id_field`: `a.mp4#t=4,60` names
    the row, `a.mp4` its clips (`a.mp4#t=4,34`, ...).
    """
    own = row_key(row, video_field, id_field)
    plain = {k: v for k, v in row.items() if k != KEY_FIELD and k not in BOUND_FIELDS}
    return own, row_key(plain, video_field, id_field)


def expand_row(row: dict[str, Any], options: ExpandOptions) -> Expansion:
    """The clip rows of one input row (as the shard step writes it, or as read)."""
    if not options.clips.enabled:
        raise ValueError("clips.mode is none: rows are whole videos, nothing to expand")
    if is_clip_row(row):  # already expanded: expanding again changes nothing
        return Expansion(str(row[VIDEO_KEY_FIELD]), [row])
    if ERROR_FIELD in row:  # a bad line carried with its key: stays one error
        kind = row.get(ERROR_KIND_FIELD, "bad_row")
        key = row_key(row, options.video_field, options.id_field)
        return Expansion(key, [row], error=record_error(kind, str(row[ERROR_FIELD])))
    own, file_key = video_keys(row, options.video_field, options.id_field)
    base = {k: v for k, v in row.items() if k != KEY_FIELD}
    probe = None
    try:
        location = video_location(row.get(options.video_field), options.base_dir)
        probe = probe_video(location)
        clips = plan_clips(row, probe, options.clips, location)
    except SampleError as e:
        return _failed(own, base, probe, e)
    except ShotsUnavailable:
        raise
    except Exception as e:  # a decoder's own exception types are many: one video fails
        return _failed(own, base, probe, SampleError("decode_error", f"{type(e).__name__}: {e}"))
    rows = [
        {
            KEY_FIELD: clip_key(file_key, c.start, c.end),
            **base,
            "video_start": c.start,
            "video_end": c.end,
            VIDEO_KEY_FIELD: own,
            CLIP_FIELD: c.to_dict(),
            DURATION_FIELD: probe.duration,
        }
        for c in clips
    ]
    return Expansion(own, rows, probe=probe, clips=clips)


def _failed(key: str, base: dict[str, Any], probe: VideoProbe | None, e: SampleError) -> Expansion:
    row = {KEY_FIELD: key, **base, VIDEO_KEY_FIELD: key, ERROR_FIELD: e.message}
    row[ERROR_KIND_FIELD] = e.kind
    return Expansion(key, [row], probe=probe, error=e.record_error())


def plan_clips(
    row: dict[str, Any], probe: VideoProbe, clips: ClipsConfig, location: str
) -> list[Clip]:
    """The clips of a row's span of a probed video, by `clips.mode`."""
    start, end = row_span(row, probe.duration)
    # A clip needs two frames: qwen_vl_utils rejects a range holding fewer.
    shortest = max(clips.min_seconds, 2.0 / probe.fps if probe.fps else 0.0)
    if clips.mode == "shots":
        cuts = detect_cuts(location, start, end, min_shot=shortest)
        return shot_windows(cuts, start, end, clips.seconds, shortest)
    return fixed_windows(start, end, clips.seconds, clips.overlap, shortest)


def row_span(row: dict[str, Any], duration: float) -> tuple[float, float]:
    """`[video_start, video_end)` of a row within a video of `duration` seconds; an end
    past the video is cut to it, as the readers cut it."""
    start = _seconds(row, "video_start", 0.0)
    end = min(_seconds(row, "video_end", duration), duration)
    if start < 0:
        raise SampleError("decode_error", f"video_start must be >= 0, got {start:g}")
    if start >= duration:
        raise SampleError(
            "decode_error",
            f"video_start {start:g} is at or past the end of the video ({duration:g} s)",
        )
    if end <= start:
        raise SampleError(
            "decode_error", f"video_end ({end:g}) must be greater than video_start ({start:g})"
        )
    return start, end


def _seconds(row: dict[str, Any], name: str, default: float) -> float:
    value = row.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SampleError("decode_error", f"{name} must be a number of seconds, got {value!r}")
    return float(value)
