"""The bad-input suite: odd and broken files written on the spot, and what each must give.

`write_suite` writes the files and an input JSONL, and returns the expected outcome per
key: "ok" for a video that must yield a result, or the error kind it must yield.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import av
import numpy as np

from video_pipeline.fixtures.videos import make_video


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        for i in range(16):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 16000, i * 1024
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _truncated(path: Path, good: Path) -> Path:
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


SUITE_MAX_MODEL_LEN = 400  # the suite's configs use this vllm.max_model_len


def write_suite(root: Path) -> tuple[Path, dict[str, str]]:
    """Write the suite under `root`; returns (input JSONL, key -> "ok" or error kind)."""
    d = root / "bad videos"  # a space in every path
    d.mkdir(parents=True, exist_ok=True)
    good = make_video(d / "good.mp4", seconds=2.0, fps=8, width=64, height=48, seed=1)
    files: list[tuple[Path, str]] = [
        (good, "ok"),
        (d / "missing.mp4", "video_not_found"),
        (_write(d / "empty.mp4", b""), "decode_error"),
        (_truncated(d / "truncated.mp4", good), "decode_error"),
        (_write(d / "random.mp4", np.random.default_rng(0).bytes(20000)), "decode_error"),
        (_write(d / "notes.mp4", b"this is a text file, not a video\n" * 50), "decode_error"),
        (_write(d / "readme.txt", b"plain text\n"), "decode_error"),
        (_audio_only(d / "audio_only.mp4"), "decode_error"),
        (make_video(d / "one_frame.mp4", seconds=0.125, fps=8), "decode_error"),
        (make_video(d / "too_short.mp4", seconds=0.25, fps=8), "ok"),
        (make_video(d / "wide.mp4", seconds=1.0, fps=4, width=808, height=4), "decode_error"),
        (
            make_video(d / "odd size.avi", seconds=1.0, fps=8, width=65, height=49, codec="mpeg4"),
            "ok",
        ),
        # 120 sampled frames of 56x84: about 460 tokens, over the suite's
        # max_model_len (SUITE_MAX_MODEL_LEN) while every short clip fits.
        (
            make_video(d / "long_lowres.mp4", seconds=60.0, fps=4, width=32, height=24),
            "too_many_tokens",
        ),
        (make_video(d / "clip.mkv", seconds=1.0, fps=8, codec="ffv1"), "ok"),
        (make_video(d / "clip.webm", seconds=1.0, fps=8, codec="libvpx-vp9"), "ok"),
        (make_video(d / "clip.avi", seconds=1.0, fps=8, codec="mpeg4"), "ok"),
        (make_video(d / "clip.mov", seconds=1.0, fps=8), "ok"),
        (make_video(d / "vidéo été 日本.mp4", seconds=1.0, fps=8, seed=3), "ok"),
    ]
    folder = d / "folder.mp4"
    folder.mkdir(exist_ok=True)
    fifo = d / "pipe.mp4"  # opening it would block a decoder forever
    if not fifo.exists():
        os.mkfifo(fifo)
    files += [(folder, "not_a_file"), (fifo, "not_a_file")]
    expected = {str(p): outcome for p, outcome in files}
    lines = [json.dumps({"path": str(p)}, ensure_ascii=False) for p, _ in files]
    # Two clips of one file: two units of work, two keys.
    for start, end in ((0.0, 1.0), (1.0, 2.0)):
        lines.append(json.dumps({"path": str(good), "video_start": start, "video_end": end}))
        expected[f"{good}#t={start:g},{end:g}"] = "ok"
    # A file name that is not UTF-8 (a lone surrogate, valid as a JSON escape).
    lines.append('{"path": "old_name_\\udcff.mp4"}')
    expected["old_name_\udcff.mp4"] = "video_not_found"
    lines.append(json.dumps({"path": str(good), "meta": {"note": "duplicate row"}}))
    extra = [
        ('{"path": "unterminated', "bad_row"),
        ("[1, 2, 3]", "bad_row"),
        ('{"meta": {"note": "no video field"}}', "missing_video"),
    ]
    for text, kind in extra:
        lines.append(text)
        expected[f"line:{len(lines)}"] = kind
    lines.append(json.dumps({"path": 123}))
    expected["123"] = "missing_video"
    inp = root / "input.jsonl"
    inp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return inp, expected


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    os.utime(path)
    return path
