"""Error records carry the decoder's words, not its C++ source paths or stack frames."""

from __future__ import annotations

from pathlib import Path

from video_pipeline.errors import record_error


def test_a_real_decoder_message_loses_its_source_paths(tmp_path: Path) -> None:
    from torchcodec.decoders import VideoDecoder

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    try:
        VideoDecoder(str(bad))
    except RuntimeError as e:
        raw = f"torchcodec: {type(e).__name__}: {e}"
    else:
        raise AssertionError("torchcodec opened 100 zero bytes")
    assert ".cpp:" in raw  # what the decoder says, as of torchcodec 0.17
    message = record_error("decode_error", raw).message
    assert ".cpp" not in message and "/__w/" not in message
    assert "Could not open input file" in message and str(bad) in message


def test_c10_traces_are_cut_and_plain_messages_kept() -> None:
    traced = (
        "RuntimeError: boom Exception raised from f at /src/a.cpp:12 (most recent call "
        "first):\nframe #0: g"
    )
    assert record_error("decode_error", traced).message == "RuntimeError: boom"
    plain = "no such file: /data/videos/a.h"  # a path that merely looks like a header
    assert record_error("video_not_found", plain).message == plain
