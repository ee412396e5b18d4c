"""Input rows -> clip rows: keys, bounds, coverings, errors, and what the dataset reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.clips.conftest import CUTS, CUTS_FPS, assert_covering, assert_unique
from video_pipeline.clips import ExpandOptions, expand_file, expand_row
from video_pipeline.clips.spans import Clip
from video_pipeline.config.schema import ClipsConfig
from video_pipeline.data.samples import KeyedSampleError, SampleSource
from video_pipeline.io.jsonl import InputIndex
from video_pipeline.io.keys import clip_key, row_key

FIXED = ClipsConfig(mode="fixed", seconds=30.0, overlap=0.0, min_seconds=2.0)


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def clips_of(rows: list[dict[str, Any]], video_key: str) -> list[Clip]:
    mine = [r for r in rows if r.get("video_key") == video_key and "clip" in r]
    return [Clip(**r["clip"]) for r in mine]


def write_input(path: Path, rows: list[dict[str, Any] | str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.fixture(scope="module")
def expanded(clip_videos, tmp_path_factory) -> dict[str, Any]:
    """One expansion of a mixed input, checked by several tests."""
    d = tmp_path_factory.mktemp("expand")
    v = {k: str(p) for k, p in clip_videos.items()}
    (d / "not a video.mp4").write_text("plain text\n" * 20)
    rows: list[dict[str, Any] | str] = [
        {"path": v["long"], "meta": {"source": "cam1"}},
        {"path": v["short"]},
        {"path": v["almost"]},
        {"path": v["long"], "video_start": 10, "video_end": 100.5},
        {"path": str(d / "missing.mp4")},
        "not json",
        {"path": "not a video.mp4"},  # relative: resolves against the input's folder
        {"path": v["short"]},  # a duplicate: expanded once
        {"path": v["long"], "video_start": 290, "video_end": 400},  # end cut to 300
        {"path": v["long"], "video_start": 300},
        {"path": v["cuts"], "video_start": "soon"},
        {"nothing": 1},
    ]
    src = write_input(d / "input.jsonl", rows)
    out, probes = d / "clips.jsonl", d / "probes.jsonl"
    expand_file(src, out, ExpandOptions(FIXED, base_dir=str(d)), probes_jsonl=probes)
    return {"dir": d, "src": src, "out": out, "rows": read(out), "probes": read(probes), "v": v}


def test_five_minutes_become_ten_windows(expanded):
    long = expanded["v"]["long"]
    clips = clips_of(expanded["rows"], long)
    assert [(c.start, c.end) for c in clips] == [(30.0 * i, 30.0 * (i + 1)) for i in range(10)]
    assert_covering(clips, 0.0, 300.0)
    first = next(r for r in expanded["rows"] if r.get("video_key") == long)
    assert first == {
        "__key": clip_key(long, 0.0, 30.0),
        "path": long,
        "meta": {"source": "cam1"},
        "video_start": 0.0,
        "video_end": 30.0,
        "video_key": long,
        "clip": {"index": 0, "start": 0.0, "end": 30.0},
        "video_duration": 300.0,
    }


@pytest.mark.parametrize(("name", "seconds"), [("short", 5.0), ("almost", 29.0)])
def test_a_video_shorter_than_a_window_is_one_clip(expanded, name: str, seconds: float):
    path = expanded["v"][name]
    clips = clips_of(expanded["rows"], path)
    assert [(c.start, c.end) for c in clips] == [(0.0, seconds)]


def test_a_row_with_its_own_bounds_is_expanded_within_them(expanded):
    long = expanded["v"]["long"]
    own = f"{long}#t=10,100.5"
    clips = clips_of(expanded["rows"], own)
    assert [(c.start, c.end) for c in clips] == [(10.0, 40.0), (40.0, 70.0), (70.0, 100.5)]
    assert_covering(clips, 10.0, 100.5)
    keys = [r["__key"] for r in expanded["rows"] if r.get("video_key") == own]
    # Clips are keyed by the file's key: one fragment, never two.
    assert keys == [f"{long}#t=10,40", f"{long}#t=40,70", f"{long}#t=70,100.5"]
    assert all(k.count("#") == 1 for k in keys)


def test_an_end_past_the_video_is_cut_to_it(expanded):
    long = expanded["v"]["long"]
    clips = clips_of(expanded["rows"], f"{long}#t=290,400")
    assert [(c.start, c.end) for c in clips] == [(290.0, 300.0)]


def test_every_clip_key_is_unique_and_is_the_key_the_runner_computes(expanded):
    rows = expanded["rows"]
    assert_unique([r["__key"] for r in rows])
    for r in rows:
        assert row_key(r, "path", None) == r["__key"]


def error_rows(expanded) -> dict[str, dict[str, Any]]:
    return {r["__key"]: r for r in expanded["rows"] if "__error" in r}


def test_videos_that_cannot_be_probed_are_one_error_under_their_key(expanded):
    errors = error_rows(expanded)
    d, cuts, long = expanded["dir"], expanded["v"]["cuts"], expanded["v"]["long"]
    assert errors[str(d / "missing.mp4")]["__error_kind"] == "video_not_found"
    assert errors["not a video.mp4"]["__error_kind"] == "decode_error"
    assert "cannot open as a video" in errors["not a video.mp4"]["__error"]
    assert errors[f"{long}#t=300"]["__error_kind"] == "decode_error"
    assert "past the end of the video (300 s)" in errors[f"{long}#t=300"]["__error"]
    assert "video_start must be a number of seconds" in errors[cuts]["__error"]
    # Bad lines keep the shard step's keys and kinds.
    assert errors["line:6"]["__error_kind"] == "bad_row"
    assert errors["line:12"]["__error_kind"] == "missing_video"
    for key, row in errors.items():
        assert "clip" not in row
        assert row.get("video_key", key) == key


def test_the_duplicate_row_is_expanded_once(expanded):
    short = expanded["v"]["short"]
    assert [r["__key"] for r in expanded["rows"]].count(clip_key(short, 0.0, 5.0)) == 1


def test_each_video_has_its_clips_together_and_in_time_order(expanded):
    order = [r.get("video_key", r["__key"]) for r in expanded["rows"]]
    runs = [k for i, k in enumerate(order) if i == 0 or order[i - 1] != k]
    assert len(runs) == len(set(runs)), "a video's clips are split apart"
    for key in set(order):
        starts = [c.start for c in clips_of(expanded["rows"], key)]
        assert starts == sorted(starts)


def test_the_probe_report_has_one_line_per_row(expanded):
    probes = {p["__key"]: p for p in expanded["probes"]}
    long = probes[expanded["v"]["long"]]
    assert (long["duration"], long["fps"], long["source"], long["clips"]) == (
        300.0,
        2.0,
        "container",
        10,
    )
    assert probes[str(expanded["dir"] / "missing.mp4")]["error"]["kind"] == "video_not_found"
    assert len(probes) == len({r.get("video_key", r["__key"]) for r in expanded["rows"]})


def test_clip_rows_are_read_by_the_dataset_with_their_bounds(expanded):
    """The runner's own sample source reads clip rows: clip keys, and the bounds that
    the dataset hands to qwen_vl_utils as video_start / video_end."""
    index = InputIndex.build(expanded["out"], "path", None)
    source = SampleSource(index, range(len(index)), "path", None)
    by_key = {}
    for i in range(len(source)):
        try:
            s = source[i]
            by_key[s["__key"]] = s
        except KeyedSampleError as e:
            by_key[e.key] = e
    long = expanded["v"]["long"]
    sample = by_key[f"{long}#t=40,70"]
    assert (sample["raw"]["video_start"], sample["raw"]["video_end"]) == (40.0, 70.0)
    assert sample["__video"] == long
    assert by_key[str(expanded["dir"] / "missing.mp4")].kind == "video_not_found"


def test_a_clip_decodes_the_frames_of_its_own_seconds(expanded):
    """qwen_vl_utils samples a clip's frames from its bounds, in seconds of the file."""
    from qwen_vl_utils.vision_process import fetch_video

    from video_pipeline.data.video_reader import install_reader

    install_reader("auto")
    long = expanded["v"]["long"]
    row = next(r for r in expanded["rows"] if r["__key"] == f"{long}#t=60,90")
    ele = {"video": long, "video_start": row["video_start"], "video_end": row["video_end"]}
    _frames, meta = fetch_video({**ele, "fps": 1.0}, return_video_metadata=True)
    fps = 2.0  # the file's rate
    assert min(meta["frames_indices"]) >= 60 * fps
    assert max(meta["frames_indices"]) <= 90 * fps


def test_expanding_clip_rows_again_changes_nothing(expanded, tmp_path: Path):
    again = tmp_path / "again.jsonl"
    expand_file(expanded["out"], again, ExpandOptions(FIXED, base_dir=str(expanded["dir"])))
    assert read(again) == expanded["rows"]


def test_a_process_pool_writes_the_same_rows(expanded, tmp_path: Path):
    pooled = tmp_path / "pooled.jsonl"
    options = ExpandOptions(FIXED, base_dir=str(expanded["dir"]))
    report = expand_file(expanded["src"], pooled, options, workers=2)
    assert read(pooled) == expanded["rows"]
    assert (report.rows, report.duplicates) == (12, 1)


def test_the_report_counts_what_was_written(expanded, tmp_path: Path):
    report = expand_file(
        expanded["src"], tmp_path / "c.jsonl", ExpandOptions(FIXED, base_dir=str(expanded["dir"]))
    )
    clip_rows = [r for r in expanded["rows"] if "clip" in r]
    assert report.clips == len(clip_rows)
    assert report.failed == len(error_rows(expanded))
    assert report.videos == len({r["video_key"] for r in clip_rows})
    assert report.seconds == pytest.approx(
        sum(r["video_end"] - r["video_start"] for r in clip_rows)
    )


def test_overlapping_windows(clip_videos):
    options = ExpandOptions(ClipsConfig(mode="fixed", seconds=30, overlap=5, min_seconds=2))
    exp = expand_row({"path": str(clip_videos["long"])}, options)
    assert_covering(exp.clips, 0.0, 300.0, overlap=5.0)
    assert exp.clips[1].start == 25.0
    assert_unique([r["__key"] for r in exp.rows])


def test_a_tail_is_merged_into_the_last_window(clip_videos):
    options = ExpandOptions(ClipsConfig(mode="fixed", seconds=29, min_seconds=2))
    exp = expand_row({"path": str(clip_videos["almost"])}, options)  # 29 s: one clip
    assert [(c.start, c.end) for c in exp.clips] == [(0.0, 29.0)]
    options = ExpandOptions(ClipsConfig(mode="fixed", seconds=14, min_seconds=2))
    exp = expand_row({"path": str(clip_videos["almost"])}, options)  # 14 + 14 + 1
    assert [(c.start, c.end) for c in exp.clips] == [(0.0, 14.0), (14.0, 29.0)]


def test_shots_follow_the_cuts_of_the_video(clip_videos):
    options = ExpandOptions(ClipsConfig(mode="shots", seconds=10, min_seconds=2))
    path = str(clip_videos["cuts"])
    exp = expand_row({"path": path}, options)
    assert_covering(exp.clips, 0.0, 40.0)
    assert_unique([r["__key"] for r in exp.rows])
    starts = [c.start for c in exp.clips]
    for cut in CUTS:  # each cut starts a clip, within one frame
        assert any(0 <= s - cut < 1 / CUTS_FPS + 1e-6 for s in starts), (cut, starts)
    assert max(c.seconds for c in exp.clips) <= 10.0  # the 13 s shot is cut in two
    assert len(exp.clips) == len(CUTS) + 1 + 1


def test_shots_of_a_row_with_bounds(clip_videos):
    options = ExpandOptions(ClipsConfig(mode="shots", seconds=30, min_seconds=1))
    path = str(clip_videos["cuts"])
    exp = expand_row({"path": path, "video_start": 5.0, "video_end": 25.0}, options)
    assert_covering(exp.clips, 5.0, 25.0)
    assert len(exp.clips) == 1 + sum(5.0 < c < 25.0 for c in CUTS)
    assert exp.key == f"{path}#t=5,25"


def test_an_id_field_names_the_video_and_its_clips(clip_videos):
    options = ExpandOptions(FIXED, id_field="vid")
    exp = expand_row({"vid": "v-1", "path": str(clip_videos["long"])}, options)
    assert exp.key == "v-1"
    assert exp.rows[0]["__key"] == "v-1#t=0,30"
    assert {r["video_key"] for r in exp.rows} == {"v-1"}


def test_expansion_needs_clips_on(clip_videos):
    with pytest.raises(ValueError, match="nothing to expand"):
        expand_row({"path": str(clip_videos["short"])}, ExpandOptions(ClipsConfig()))


def test_a_config_expands_once_and_reuses_its_clip_rows(clip_videos, tmp_path: Path):
    from video_pipeline.clips.prepare import ClipFiles, prepare_clip_rows
    from video_pipeline.config import load_config

    src = write_input(tmp_path / "in.jsonl", [{"path": str(clip_videos["long"])}])
    data = {
        "data": {"input_jsonl": str(src), "output_jsonl": str(tmp_path / "out.describe.jsonl")},
        "vllm": {"model": "m"},
        "clips": {"mode": "fixed", "seconds": 60},
    }
    files, report = prepare_clip_rows(load_config(data=data))
    assert files == ClipFiles.of(str(tmp_path / "out.describe.jsonl"))
    assert files.rows == tmp_path / "out.describe.clips.jsonl"
    assert report is not None and report.clips == 5
    again, report = prepare_clip_rows(load_config(data=data))
    assert (again, report) == (files, None)  # nothing changed: reused
    data["clips"]["seconds"] = 100
    _, report = prepare_clip_rows(load_config(data=data))
    assert report is not None and report.clips == 3
    assert len(read(files.rows)) == 3
    shared = ClipFiles.of(str(tmp_path / "out.{task}.jsonl"))
    assert shared.rows == tmp_path / "out._clips.jsonl"


def test_a_users_own_clip_field_does_not_pass_for_a_clip_row(clip_videos):
    exp = expand_row({"path": str(clip_videos["long"]), "clip": "take 3"}, ExpandOptions(FIXED))
    assert len(exp.rows) == 10
    assert exp.rows[0]["clip"] == {"index": 0, "start": 0.0, "end": 30.0}
