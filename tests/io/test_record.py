"""The typed record reads and writes what the runner's journals hold, field order kept."""

from __future__ import annotations

import json

from video_pipeline.io.record import Audio, Record, RecordError, Tokens

OK_LINE = (
    '{"__key": "a", "status": "ok", "fingerprint": "f1", "task": "describe", '
    '"video_key": "v", "clip": {"index": 0, "start": 0.0, "end": 2.0}, '
    '"raw": {"__key": "a", "video_key": "v", "clip": {"index": 0, "start": 0.0, "end": 2.0}}, '
    '"rank": 1, "time": 1.5, "text": "hi", "result": {"caption": "hi"}, "error": null, '
    '"tokens": {"prompt": 10, "generated": 2, "cached": 0}, "finish_reason": "stop", '
    '"decode_s": 0.1, "engine_s": 0.2}'
)
ERROR_LINE = (
    '{"__key": "b", "status": "error", "fingerprint": "f1", "task": "describe", '
    '"raw": {"path": "x.mp4"}, "rank": 0, "time": 2.0, "text": null, "result": null, '
    '"error": {"kind": "decode_error", "message": "bad", "transient": false}, '
    '"decode_s": 0.0, "copy_of": {"key": "a", "similarity": 1.0}}'
)


def test_round_trip_keeps_fields_and_order() -> None:
    for line in (OK_LINE, ERROR_LINE):
        d = json.loads(line)
        again = Record.from_dict(d).to_dict()
        assert list(again) == list(d)
        assert again == d


HEARD_LINE = OK_LINE[:-1] + ', "audio": {"present": true, "seconds": 3.008, "tokens": 77}}'
SILENT_LINE = ERROR_LINE.replace(
    ', "copy_of"', ', "audio": {"present": false, "seconds": 0.0, "tokens": 0}, "copy_of"'
)


def test_audio_is_typed_round_trips_exactly_and_comes_last() -> None:
    for line in (HEARD_LINE, SILENT_LINE):
        d = json.loads(line)
        rec = Record.from_dict(d)
        assert isinstance(rec.audio, Audio) and "audio" not in rec.extra
        assert list(rec.to_dict()) == list(d) and rec.to_dict() == d
    assert Record.from_dict(json.loads(HEARD_LINE)).audio == Audio(True, 3.008, 77)
    assert Record.from_dict(json.loads(OK_LINE)).audio is None  # others keep their shape


def test_typed_parts() -> None:
    ok = Record.from_dict(json.loads(OK_LINE))
    assert ok.ok and ok.error_kind is None and not ok.transient
    assert ok.tokens == Tokens(10, 2, 0)
    assert (ok.video_key, ok.clip["end"]) == ("v", 2.0)
    err = Record.from_dict(json.loads(ERROR_LINE))
    assert not err.ok and err.error_kind == "decode_error"
    assert err.error == RecordError("decode_error", "bad", False)
    assert err.extra == {"copy_of": {"key": "a", "similarity": 1.0}}
    assert err.tokens is None and err.engine_s is None


def test_new_lifts_clip_fields_only_from_clip_rows() -> None:
    clip_row = json.loads(OK_LINE)["raw"]
    rec = Record.new("a", "ok", "f", "describe", clip_row, 0)
    assert rec.video_key == "v" and rec.clip == clip_row["clip"]
    plain = Record.new("b", "ok", "f", "describe", {"path": "x", "video_key": "v"}, 0)
    assert plain.video_key is None and "video_key" not in plain.to_dict()
    assert list(plain.to_dict())[:3] == ["__key", "status", "fingerprint"]
