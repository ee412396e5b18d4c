"""The soundtrack reader: 16 kHz mono by range, silent videos, corrupt files."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from scipy.signal import resample_poly

from video_pipeline.data import audio
from video_pipeline.errors import SampleError
from video_pipeline.fixtures.videos import make_video


@pytest.fixture(scope="module")
def toned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(
        tmp_path_factory.mktemp("audio") / "tone.mp4", seconds=3.0, fps=4, tone_hz=440
    )


def _native(path: Path) -> np.ndarray:
    """The track at its own rate, averaged over channels, decoded by PyAV alone."""
    with av.open(str(path)) as c:
        parts = [f.to_ndarray() for f in c.decode(audio=0)]
    return np.concatenate(parts, axis=1).mean(axis=0)


def test_info_reads_the_header(toned: Path) -> None:
    info = audio.audio_info(toned)
    assert info is not None
    assert (info.codec, info.sample_rate, info.channels) == ("aac", 48_000, 2)
    assert info.seconds == pytest.approx(3.0, abs=0.05)


def test_load_is_16k_mono_and_matches_a_reference_resampler(toned: Path) -> None:
    track = audio.load_audio(toned)
    assert track is not None and track.sample_rate == audio.SAMPLE_RATE
    assert track.samples.dtype == np.float32 and track.samples.ndim == 1
    assert track.seconds == pytest.approx(3.0, abs=0.05)
    # Same loudness as an average of the channels (FFmpeg's downmix would be x1.41).
    reference = resample_poly(_native(toned), 1, 3)
    n = min(len(reference), len(track.samples))
    a, b = track.samples[2000 : n - 2000], reference[2000 : n - 2000]
    snr_db = 10 * np.log10(np.sum(b**2) / np.sum((a - b) ** 2))
    assert snr_db > 40, snr_db
    assert np.abs(a).max() == pytest.approx(np.abs(b).max(), rel=0.02)


def test_a_range_starts_where_asked(toned: Path) -> None:
    whole = audio.load_audio(toned)
    part = audio.load_audio(toned, start=1.0, end=2.0)
    assert whole is not None and part is not None
    assert part.start == pytest.approx(1.0, abs=0.03)
    assert part.seconds == pytest.approx(1.0, abs=0.03)
    at = round(part.start * audio.SAMPLE_RATE)
    assert np.corrcoef(part.samples[:8000], whole.samples[at : at + 8000])[0, 1] > 0.99


def test_windows_cover_the_track_in_order(toned: Path) -> None:
    windows = list(audio.windows(audio.load_audio(toned), window_s=1.0))
    assert [round(w.start, 2) for w in windows] == [0.0, 1.0, 2.0]
    assert all(w.seconds <= 1.0 + 1e-6 for w in windows)
    assert sum(w.seconds for w in windows) == pytest.approx(3.0, abs=0.05)


def test_a_silent_video_has_no_track(tmp_path: Path) -> None:
    path = make_video(tmp_path / "silent.mp4", seconds=1.0)
    assert audio.audio_info(path) is None
    assert audio.load_audio(path) is None


def test_a_corrupt_file_is_an_audio_decode_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(b"\0" * 1000)
    with pytest.raises(SampleError) as got:
        audio.load_audio(path)
    assert got.value.kind == "audio_decode_error"


def test_a_track_decoded_in_chunks_is_the_track_decoded_at_once(
    toned: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks (here 0.7 s) meet without a gap or a repeated sample: the same samples
    as one call for the whole range, in a buffer no larger than them and one second."""
    from torchcodec.decoders import AudioDecoder

    whole = AudioDecoder(str(toned), sample_rate=audio.SAMPLE_RATE)
    info = audio.audio_info(toned)
    at_once = whole.get_samples_played_in_range(0.0, info.seconds).data.mean(dim=0).numpy()
    monkeypatch.setattr(audio, "CHUNK_S", 0.7)
    track = audio.load_audio(toned)
    assert len(track.samples) == len(at_once)
    assert np.allclose(track.samples, at_once, atol=1e-6)
    assert track.samples.base.nbytes <= 4 * (len(at_once) + audio.SAMPLE_RATE + 1)
    clip = audio.load_audio(toned, 0.5, 2.2)
    assert clip.start == pytest.approx(0.5, abs=0.01)
    assert np.allclose(clip.samples, at_once[8000 : 8000 + len(clip.samples)], atol=1e-6)
