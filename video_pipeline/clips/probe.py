"""A video's duration: cheaply from its container, by decoding when that is absent or lies.

The container's duration costs one header read, but headers lie: a partial download of
a "fast start" MP4 still announces the whole length, live recorders write WebM without
a duration, remuxers write wrong ones. So the claim is checked against the last packets
(a seek near the claimed end, then demuxing to the end of the file: one GOP's worth of
reading, no decode), and when they disagree, or there is no claim, the frames are
decoded and counted, as the video readers will count them.

Durations are in seconds of the file itself, from its first frame, as qwen_vl_utils'
`video_start` / `video_end` count them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import av

from video_pipeline.errors import SampleError

_AV_ERRORS = (av.FFmpegError, OSError, ValueError, IndexError)


@dataclass(frozen=True)
class VideoProbe:
    duration: float  # seconds, from the first frame to the end of the last one
    fps: float | None  # the stream's frame rate, None when the file does not say
    frames: int | None  # frame count: counted by a decode, or the container's claim
    source: str  # "container" (its claim, confirmed by the last packets) or "decode"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def video_location(value: Any, base_dir: str | Path) -> str:
    """Where a row's video is: a local path (relative ones resolve against `base_dir`,
    the input file's folder, as the dataset resolves them), or a URL as written."""
    if not isinstance(value, str) or not value.strip():
        raise SampleError("missing_video", f"video field must be a non-empty string, got {value!r}")
    parsed = urlparse(value)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    if parsed.scheme and len(parsed.scheme) > 1:  # one letter is a Windows drive
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else Path(base_dir) / path)


def probe_video(location: str) -> VideoProbe:
    """The duration of a video, or a SampleError (`video_not_found`, `decode_error`)."""
    if not urlparse(location).netloc and not Path(location).is_file():
        raise SampleError("video_not_found", f"no such file: {location}")
    with _open(location) as container:
        stream = _video_stream(container, location)
        fps = _fps(stream)
        claim = _claimed_duration(container, stream)
        if claim is not None:
            end = _last_packet_end(container, stream, claim)
            if end is not None and abs(end - claim) <= _tolerance(fps):
                frames = stream.frames or None
                return VideoProbe(round(claim, 6), fps, frames, "container")
    return _decode(location)


def _open(location: str) -> av.container.InputContainer:
    try:
        return av.open(location, metadata_errors="ignore")
    except _AV_ERRORS as e:
        raise SampleError("decode_error", f"cannot open as a video: {_why(e)}") from None


def _video_stream(container: av.container.InputContainer, location: str) -> av.VideoStream:
    if not container.streams.video:
        raise SampleError("decode_error", f"no video stream in {location}")
    return container.streams.video[0]


def _fps(stream: av.VideoStream) -> float | None:
    # guessed_rate first: raw streams report FFmpeg's placeholder 25 as average_rate.
    for rate in (stream.guessed_rate, stream.average_rate):
        if rate and float(rate) > 0:
            return float(rate)
    return None


def _tolerance(fps: float | None) -> float:
    """How far the claim may be from the last packet's end: two frames (a container
    may omit the last frame's duration) and a little more for rounding."""
    return 2.0 / fps + 0.01 if fps else 0.5


def _claimed_duration(
    container: av.container.InputContainer, stream: av.VideoStream
) -> float | None:
    """The stream's duration, else the container's; None when neither is usable."""
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration:
        seconds = container.duration / av.time_base
    else:
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def _start(stream: av.VideoStream) -> float:
    if stream.start_time is None or not stream.time_base:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _last_packet_end(
    container: av.container.InputContainer, stream: av.VideoStream, claim: float
) -> float | None:
    """Where the stream's packets really end (seconds from its start), read from the
    keyframe before the claimed end to the end of the file; None if that fails."""
    tb = stream.time_base
    if not tb:
        return None
    start = _start(stream)
    try:
        container.seek(int((start + claim) / tb), stream=stream, backward=True, any_frame=False)
        end = None
        for packet in container.demux(stream):
            if packet.pts is None or not packet.size:
                continue
            t = float((packet.pts + (packet.duration or 0)) * tb)
            end = t if end is None else max(end, t)
    except _AV_ERRORS:
        return None  # not seekable, or data missing where the index points: decode
    return None if end is None else end - start


def _decode(location: str) -> VideoProbe:
    """Decode every frame. A corrupt packet is skipped and data missing at the end of a
    partial file ends the count, as the video readers skip and stop."""
    times: list[float] = []
    frames, frame_s, last_error = 0, None, None
    with _open(location) as container:
        stream = _video_stream(container, location)
        fps = _fps(stream)

        def count(packet: av.Packet | None) -> None:
            nonlocal frames, frame_s
            for frame in stream.decode(packet):
                frames += 1
                if frame.time is not None:
                    times.append(frame.time)
                if frame.duration and frame.time_base:
                    frame_s = float(frame.duration * frame.time_base)
            del times[1:-1]  # keep the first and the latest time only

        try:
            for packet in container.demux(stream):
                try:
                    count(packet)
                except _AV_ERRORS as e:
                    last_error = e
        except _AV_ERRORS as e:  # truncated: no more packets to read
            last_error = e
        try:
            count(None)  # the frames still inside the decoder
        except _AV_ERRORS as e:
            last_error = e
    if frames == 0:
        why = f": {_why(last_error)}" if last_error else ""
        raise SampleError("decode_error", f"no frame decodes in {location}{why}")
    interval = frame_s or (1.0 / fps if fps else 0.0)
    first, last = (min(times), max(times)) if times else (None, None)
    if first is not None and last is not None and last > first:
        duration = last - first + interval
    elif fps:
        duration = frames / fps
    else:
        raise SampleError("decode_error", f"{location}: neither timestamps nor a frame rate")
    return VideoProbe(round(duration, 6), fps, frames, "decode")


def _why(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}".strip()
