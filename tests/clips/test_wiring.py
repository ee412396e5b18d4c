"""The pieces that wire clips into runs, without the engine: run configs, relative
paths, records, summary rows, dealing clips to infer jobs, the summary task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clips.conftest import assert_unique
from video_pipeline.clips.prepare import ClipFiles, is_expanded, prepare_clip_rows
from video_pipeline.clips.run import ClipsNotExpanded, run_configs
from video_pipeline.clips.summary import summary_config, summary_row
from video_pipeline.config import ConfigError, load_config
from video_pipeline.fingerprint import fingerprint
from video_pipeline.io.record import Record
from video_pipeline.tasks.registry import get_task_class
from video_pipeline.workflow.clips import write_clip_shards


def _config(tmp_path: Path, model: str = "m", **clips) -> dict:
    return {
        "data": {
            "input_jsonl": str(tmp_path / "in" / "input.jsonl"),
            "output_jsonl": str(tmp_path / "out" / "res.jsonl"),
        },
        "vllm": {"model": model},
        "clips": {"mode": "fixed", "seconds": 2, "min_seconds": 1, **clips},
    }


@pytest.fixture
def expanded(tmp_path: Path, clip_videos: dict[str, Path]):
    """A relative path to the 5 s video, expanded in 2 s windows."""
    (tmp_path / "in" / "v").mkdir(parents=True)
    (tmp_path / "in" / "v" / "short.mp4").write_bytes(clip_videos["short"].read_bytes())
    (tmp_path / "in" / "input.jsonl").write_text(json.dumps({"path": "v/short.mp4"}) + "\n")
    cfg = load_config(data=_config(tmp_path))
    (one,) = run_configs(cfg, expand=True)
    return cfg, one


def test_a_run_reads_the_clip_rows_and_keeps_the_users_folder(tmp_path, expanded):
    cfg, one = expanded
    assert one.data.input_jsonl == str(tmp_path / "out" / "res.clips.jsonl")
    assert one.data.base_dir == str((tmp_path / "in").resolve())
    assert one.data.video_dir == cfg.data.video_dir  # relative paths: the input's folder
    assert fingerprint(one) == fingerprint(cfg)  # where rows are read from is no answer
    rows = [json.loads(x) for x in Path(one.data.input_jsonl).read_text().splitlines()]
    assert [r["__key"] for r in rows] == [f"v/short.mp4#t={s},{min(s + 2, 5)}" for s in (0, 2, 4)]
    assert is_expanded(one.data.input_jsonl) and not is_expanded(cfg.data.input_jsonl)
    # Clip rows as input are their own expansion: nothing is written again.
    files, report = prepare_clip_rows(
        load_config(
            data={
                **_config(tmp_path),
                "data": {
                    **_config(tmp_path)["data"],
                    "input_jsonl": one.data.input_jsonl,
                    "output_jsonl": str(tmp_path / "other" / "o.jsonl"),
                },
            }
        )
    )
    assert report is None and files == ClipFiles.beside(one.data.input_jsonl)


def test_the_dataset_opens_relative_clips_from_the_users_folder(expanded):
    from video_pipeline.data.samples import SampleSource
    from video_pipeline.io.jsonl import InputIndex

    _, one = expanded
    index = InputIndex.build(one.data.input_jsonl, "path", None)
    source = SampleSource(index, range(len(index)), "path", None, one.data.video_dir)
    from video_pipeline.data.dataset_qwen_video import QwenVideoDataset

    ds = QwenVideoDataset(source, get_task_class("describe")(), None, one.vision)
    assert ds.video_uri(source[0]["__video"]) == str(Path(one.data.base_dir) / "v" / "short.mp4")


def test_merge_and_verify_refuse_clip_rows_older_than_the_input(tmp_path, expanded):
    cfg, _ = expanded
    with open(cfg.data.input_jsonl, "a") as f:
        f.write(json.dumps({"path": "v/short.mp4", "extra": 1}) + "\n")
    with pytest.raises(ClipsNotExpanded, match="older than the input"):
        run_configs(cfg)


def test_clip_records_carry_their_clip_and_video_at_the_top():
    raw = {
        "__key": "a.mp4#t=0,30",
        "path": "a.mp4",
        "video_key": "a.mp4",
        "clip": {"index": 0, "start": 0.0, "end": 30.0},
    }
    rec = Record.new(raw["__key"], "ok", "fp", "describe", raw, 0).to_dict()
    assert list(rec)[:3] == ["__key", "status", "fingerprint"]  # the resume scan's order
    assert rec["video_key"] == "a.mp4" and rec["clip"] == raw["clip"]
    plain = Record.new("a.mp4", "ok", "fp", "describe", {"path": "a.mp4", "clip": 3}, 0)
    assert "clip" not in plain.to_dict() and "video_key" not in plain.to_dict()


def _clip(i: int, status: str, kind: str | None = None) -> dict:
    c = {
        "__key": f"a#t={i},{i + 1}",
        "clip": {"index": i, "start": i, "end": i + 1},
        "status": status,
        "text": f" caption {i} ",
    }
    if kind:
        c["error"] = {"kind": kind, "message": "m"}
    return c


def test_summary_rows_hold_ok_captions_in_order_or_one_error():
    video = {
        "__key": "a",
        "status": "partial",
        "duration": 3.0,
        "raw": {"path": "a.mp4"},
        "error": None,
        "clips": [_clip(0, "ok"), _clip(1, "error", "decode_error"), _clip(2, "ok")],
    }
    row = summary_row(video, "path")
    assert [c["text"] for c in row["captions"]] == ["caption 0", "caption 2"]
    assert row["failed_clips"] == [{"index": 1, "start": 1, "end": 2, "kind": "decode_error"}]
    assert row["path"] == "a.mp4" and row["__key"] == "a"
    failed = {**video, "status": "error", "clips": [_clip(0, "error", "too_many_tokens")]}
    assert summary_row(failed, "path")["__error_kind"] == "too_many_tokens"
    whole = {
        **video,
        "status": "error",
        "clips": [],
        "error": {"kind": "video_not_found", "message": "no such file"},
    }
    assert summary_row(whole, "path")["__error_kind"] == "video_not_found"
    assert summary_row({**video, "status": "pending"}, "path") is None
    # A clip a rerun retries (a transient error): launch waits for it, the workflow not.
    flaky = {**video, "clips": [_clip(0, "ok"), _clip(1, "error", "engine_error")]}
    flaky["clips"][1]["error"]["transient"] = True
    assert summary_row(flaky, "path", retried=True) is None
    assert len(summary_row(flaky, "path")["captions"]) == 1


def test_the_summary_pass_is_a_task_of_its_own(tmp_path):
    cfg = load_config(data=_config(tmp_path, summary=True, summary_params={"prompt": "Sum up."}))
    s = summary_config(cfg, tmp_path / "rows.jsonl")
    assert (s.run.task, s.task_kwargs, s.clips.enabled) == (
        "clip_summary",
        {"prompt": "Sum up."},
        False,
    )
    assert s.data.output_jsonl == str(tmp_path / "out" / "res.summary.jsonl")
    other = load_config(
        data=_config(tmp_path, seconds=3, summary=True, summary_params={"prompt": "Sum up."})
    )
    # New captions (other clips), new summaries.
    assert fingerprint(summary_config(other, tmp_path / "rows.jsonl")) != fingerprint(s)
    task = get_task_class("clip_summary")(prompt="Sum up.")
    messages = task.build_messages(
        {
            "raw": {
                "captions": [
                    {"index": 0, "start": 0, "end": 30, "text": "a dog"},
                    {"index": 1, "start": 30, "end": 60.5, "text": "a cat"},
                ]
            }
        }
    )
    text = messages[-1]["content"][0]["text"]
    assert text.startswith("Sum up.") and "[0-30 s] a dog\n[30-60.5 s] a cat" in text
    assert all(e.get("type") == "text" for e in messages[-1]["content"])  # no video


@pytest.mark.parametrize(
    ("clips", "expected"),
    [
        ({"summary": True, "summary_task": "nope"}, "clips.summary_task: unknown task 'nope'"),
        (
            {"summary": True, "summary_params": {"fields": 1}},
            "clips.summary_params: task_params.fields",
        ),
    ],
)
def test_a_bad_summary_task_names_its_key(tmp_path, clips, expected):
    with pytest.raises(ConfigError, match=expected):
        load_config(data=_config(tmp_path, **clips))


def test_clips_are_dealt_to_infer_jobs_by_clip_key(tmp_path):
    rows = []
    for part in range(2):
        p = tmp_path / f"rows{part}.jsonl"
        p.write_text(
            "".join(
                json.dumps({"__key": f"v{part}.mp4#t={i},{i + 1}", "video_key": f"v{part}.mp4"})
                + "\n"
                for i in range(40)
            )
        )
        rows.append(str(p))
    outs = [str(tmp_path / "clips" / f"{s}.jsonl") for s in ("00000", "00001", "00002")]
    counts = write_clip_shards(rows, outs)
    dealt = [[json.loads(x) for x in Path(o).read_text().splitlines()] for o in outs]
    assert sum(counts) == 80 and min(counts) > 10  # balanced, not one video per job
    assert_unique([r["__key"] for d in dealt for r in d])
    for d in dealt:
        assert {r["video_key"] for r in d} == {"v0.mp4", "v1.mp4"}
