"""Thumbnail strips: bounded JPEGs at the sampled timestamps, a sidecar that tolerates
a torn tail and records of another fingerprint."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from video_pipeline.strips import (
    MAX_JPEG_BYTES,
    STRIP_FRAMES,
    STRIP_PX,
    StripIndex,
    StripWriter,
    make_strip,
    strips_path,
)


def test_strip_of_a_large_noisy_video_is_bounded() -> None:
    frames = torch.randint(0, 256, (12, 3, 720, 1280), dtype=torch.uint8)
    meta = {"fps": 30.0, "frames_indices": list(range(0, 360, 30))}
    strip = make_strip((frames, meta))
    assert (strip["sampled"], strip["height"], strip["width"]) == (12, 720, 1280)
    assert len(strip["frames"]) == STRIP_FRAMES
    assert [f["t"] for f in strip["frames"]] == [0.0, 4.0, 7.0, 11.0]
    for f in strip["frames"]:
        data = base64.b64decode(f["jpeg"])
        assert len(data) <= MAX_JPEG_BYTES
        assert Image.open(io.BytesIO(data)).size == (STRIP_PX, 90)


def test_float_frames_and_short_videos() -> None:
    frames = torch.full((2, 3, 56, 84), 200.0)
    strip = make_strip(frames)
    assert len(strip["frames"]) == 2 and strip["frames"][0]["t"] is None
    img = Image.open(io.BytesIO(base64.b64decode(strip["frames"][0]["jpeg"])))
    assert img.size == (84, 56) and abs(np.asarray(img).mean() - 200) < 3
    assert make_strip(torch.zeros(0, 3, 8, 8)) is None


def test_sidecar_index_skips_torn_tails_and_other_fingerprints(tmp_path: Path) -> None:
    journal = tmp_path / "o.rank0.jsonl"
    path = strips_path(journal)
    assert path.name == "o.rank0.strips" and strips_path(tmp_path / "o.jsonl").name == "o.strips"
    strip = make_strip(torch.zeros(4, 3, 32, 32, dtype=torch.uint8))
    old = StripWriter(path, "old")
    old.write("a", strip)
    old.close()
    w = StripWriter(path, "fp")
    for key in ("a", 'b "quoted" \udcff', "c"):
        w.write(key, {**strip, "sampled": len(key)})
    w.close()
    with open(path, "ab") as f:
        f.write(b'{"__key": "d", "fingerprint": "fp", "frames": [{"t"')  # a crash mid-line
    index = StripIndex([path], "fp")
    assert sorted(index.where) == sorted(["a", 'b "quoted" \udcff', "c"])
    assert index.get("a")["sampled"] == 1 and index.get("d") is None
    assert StripIndex([path]).get("a")["fingerprint"] == "fp"  # the last one wins
    merged = tmp_path / "o.strips"
    assert index.write(["c", "zz", "a"], merged) == 2
    assert sorted(StripIndex([merged]).where) == ["a", "c"]
