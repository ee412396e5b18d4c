"""A video's soundtrack as the models hear it: mono float32 at 16 kHz, decoded by range.

Omni models (with `vision.use_audio_in_video`) and Whisper both take 16 kHz mono. The
track is decoded with torchcodec's AudioDecoder, which resamples in FFmpeg as it decodes,
so memory is bounded by the samples returned (64 KB per second and channel), never by
the file's own rate: a 2-hour 48 kHz track is never held whole at its own rate.
Channels are averaged (as librosa, which qwen_omni_utils uses, does). qwen_omni_utils
loads the whole track at its own rate and then resamples; FFmpeg's resampler differs
from it by rounding (tests/data/test_audio.py holds it above 40 dB SNR of a reference).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from video_pipeline.errors import SampleError

SAMPLE_RATE = 16_000  # what Whisper's and Qwen-Omni's feature extractors take
BYTES_PER_SECOND = SAMPLE_RATE * 4  # float32 mono
MIN_TAIL_S = 0.1


@dataclass(frozen=True)
class AudioInfo:
    """A file's first audio stream, from its header: no samples decoded."""

    codec: str
    seconds: float
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class AudioTrack:
    """Decoded samples of one range of a file's audio."""

    samples: np.ndarray  # float32, mono, at `sample_rate`
    sample_rate: int
    start: float  # seconds from the start of the file

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def end(self) -> float:
        return self.start + self.seconds


def audio_info(path: str | Path) -> AudioInfo | None:
    """The file's audio stream, or None when it has none (a silent video is not an
    error). A file that cannot be opened at all raises `audio_decode_error`."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            seconds = _stream_seconds(stream, container)
            return AudioInfo(
                codec=stream.codec_context.name,
                seconds=seconds,
                sample_rate=int(stream.codec_context.sample_rate or 0),
                channels=int(stream.codec_context.channels or 0),
            )
    except (av.error.FFmpegError, OSError) as e:
        raise SampleError("audio_decode_error", f"cannot open {path}: {e}") from e


def _stream_seconds(stream: object, container: object) -> float:
    if stream.duration is not None and stream.time_base is not None:  # type: ignore[attr-defined]
        return float(stream.duration * stream.time_base)  # type: ignore[attr-defined]
    if container.duration is not None:  # type: ignore[attr-defined]
        return container.duration / 1_000_000  # type: ignore[attr-defined]
    return 0.0


def load_audio(
    path: str | Path,
    start: float = 0.0,
    end: float | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> AudioTrack | None:
    """The audio between `start` and `end` seconds (None: to the stream's end as its
    header states it), mono at
    `sample_rate`; None when the file has no audio stream. A stream that fails to decode
    raises `audio_decode_error`."""
    info = audio_info(path)
    if info is None:
        return None
    if end is None and info.seconds:  # not an encoder's padding past the stream's end
        end = info.seconds
    decoder = _decoder(path, sample_rate)
    return _range(decoder, path, start, end, sample_rate)


def windows(track: AudioTrack, window_s: float = 30.0) -> Iterator[AudioTrack]:
    """A decoded track in consecutive windows of `window_s` seconds with their times in
    the file (the last one shorter): views of its samples, no copy. A tail under
    `MIN_TAIL_S` (an encoder's padding past the stream's end) is left out."""
    step = max(1, round(window_s * track.sample_rate))
    for lo in range(0, len(track.samples), step):
        piece = track.samples[lo : lo + step]
        if len(piece) / track.sample_rate >= MIN_TAIL_S:
            yield AudioTrack(piece, track.sample_rate, track.start + lo / track.sample_rate)


def _decoder(path: str | Path, sample_rate: int) -> object:
    from torchcodec.decoders import AudioDecoder

    try:
        # Channels are averaged here, as librosa does: FFmpeg's own downmix scales
        # stereo by 1/sqrt(2) per channel, which would change the loudness models hear.
        return AudioDecoder(str(path), sample_rate=sample_rate)
    except Exception as e:
        raise SampleError("audio_decode_error", f"{path}: {type(e).__name__}: {e}") from e


CHUNK_S = 30.0  # decoded at a time: a track's peak is its samples and one chunk's work


def _range(
    decoder: object, path: str | Path, start: float, end: float | None, sample_rate: int
) -> AudioTrack:
    """The mono samples from `start` to `end`, decoded `CHUNK_S` at a time into one
    buffer: torchcodec returns every channel and the average copies again, so a whole
    track decoded at once would peak at about five times its mono samples."""
    if end is None:  # no duration in the header: no size to plan for
        return _chunk(decoder, path, start, None)
    out = np.empty(math.ceil(max(0.0, end - start) * sample_rate) + sample_rate, np.float32)
    n, first, lo = 0, None, start
    while lo < end:
        piece = _chunk(decoder, path, lo, min(lo + CHUNK_S, end))
        first = piece.start if first is None else first
        if n + len(piece.samples) > len(out):  # more than the header said
            out = np.concatenate([out[:n], np.empty(len(piece.samples), np.float32)])
        out[n : n + len(piece.samples)] = piece.samples
        n += len(piece.samples)
        lo += CHUNK_S
    return AudioTrack(out[:n], sample_rate, start if first is None else first)


def _chunk(decoder: object, path: str | Path, start: float, end: float | None) -> AudioTrack:
    try:
        got = decoder.get_samples_played_in_range(start, end)  # type: ignore[attr-defined]
    except Exception as e:
        raise SampleError("audio_decode_error", f"{path}: {type(e).__name__}: {e}") from e
    samples = got.data.mean(dim=0).numpy().astype(np.float32, copy=False)
    return AudioTrack(samples, int(got.sample_rate), float(got.pts_seconds))
