"""A rank under faults, in-process with FakeEngine (decode and tokens are real):
engine death, the retry policy, the token budget."""

from __future__ import annotations

import shutil

import pytest

from tests.helpers import demo_config, read_jsonl
from video_pipeline.config import load_config
from video_pipeline.engine.base import RequestRejected
from video_pipeline.engine.fake import FakeEngine
from video_pipeline.errors import EngineFailure
from video_pipeline.fixtures.videos import make_video, write_input_jsonl
from video_pipeline.io.journal import journal_path
from video_pipeline.merge import merge_outputs
from video_pipeline.runner.rank import run_rank
from video_pipeline.verify import verify_run


def _cfg(tiny_model, inp, out, **sections):
    sections.setdefault("data", {}).setdefault("num_workers", 0)
    return load_config(data=demo_config(tiny_model, inp, out, **sections))


class _DyingEngine(FakeEngine):
    def __init__(self, die_at: int) -> None:
        super().__init__(steps_per_request=2)
        self.die_at = die_at

    def step(self):
        if len(self.in_flight_history) + 1 >= self.die_at:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return super().step()


def test_engine_death_stops_the_rank_and_keeps_the_journal(
    tmp_path, tiny_model, input_jsonl, processor
):
    out = tmp_path / "o.jsonl"
    cfg = _cfg(tiny_model, input_jsonl, out, run={"max_in_flight": 2})
    with pytest.raises(EngineFailure, match=r"engine failed in step\(\).*illegal memory") as e:
        run_rank(cfg, 0, 1, lambda: _DyingEngine(die_at=5), lambda t: None, processor)
    assert "rerun of the same command resumes" in str(e.value)
    written = read_jsonl(journal_path(out, 0))
    assert 0 < len(written) < 8
    assert not verify_run(cfg).violations
    stats = run_rank(cfg, 0, 1, FakeEngine, lambda t: None, processor)
    assert stats.skipped_done == len(written) and stats.done == 8 - len(written)
    report = verify_run(cfg, require_complete=True)
    assert not report.violations and report.done == 8


def test_errors_are_kept_unless_retried(tmp_path, tiny_model, video_dir, processor):
    videos = sorted(video_dir.glob("*.mp4"))[:3]
    late = tmp_path / "arrives_later.mp4"
    inp = write_input_jsonl(tmp_path / "in.jsonl", [*videos, late])
    out = tmp_path / "o.jsonl"
    cfg = _cfg(tiny_model, inp, out)
    first = run_rank(cfg, 0, 1, FakeEngine, lambda t: None, processor)
    assert (first.done, first.errors_by_kind) == (3, {"video_not_found": 1})
    [err] = [r for r in read_jsonl(journal_path(out, 0)) if r["status"] == "error"]
    assert err["error"]["transient"] is False

    shutil.copy(videos[0], late)
    again = run_rank(cfg, 0, 1, FakeEngine, lambda t: None, processor)
    assert (again.todo, again.skipped_done) == (0, 4)  # the error record is kept

    retry = _cfg(tiny_model, inp, out, run={"retry_errors": True})
    third = run_rank(retry, 0, 1, FakeEngine, lambda t: None, processor)
    assert (third.todo, third.done, third.failed) == (1, 1, 0)
    report = merge_outputs(cfg)
    assert (report.ok, report.failed, report.pending) == (4, 0, 0)
    assert not verify_run(cfg, require_complete=True).violations


def test_a_plain_rerun_retries_exactly_the_transient_errors(
    tmp_path, tiny_model, video_dir, processor, monkeypatch
):
    """internal_error and engine_error are retried by the next run; decode and file
    errors stay done until --retry-errors."""
    from video_pipeline.tasks.describe import DescribeTask

    videos = sorted(video_dir.glob("*.mp4"))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    inp = write_input_jsonl(tmp_path / "in.jsonl", [*videos[:4], tmp_path / "gone.mp4", broken])
    out = tmp_path / "o.jsonl"
    cfg = _cfg(tiny_model, inp, out, data={"num_workers": 1})
    real = DescribeTask.build_messages

    def flaky(self, sample):
        if sample["__key"] == str(videos[1]):
            raise RuntimeError("a bug in the task")
        return real(self, sample)

    class _Refusing(FakeEngine):  # refuses the first request it is given
        def add(self, request_id, llm_input, params):
            if not getattr(self, "refused", False):
                self.refused = True
                raise RequestRejected("engine_error", "refused")
            super().add(request_id, llm_input, params)

    monkeypatch.setattr(DescribeTask, "build_messages", flaky)
    first = run_rank(cfg, 0, 1, _Refusing, lambda t: None, processor)
    assert first.errors_by_kind == {
        "internal_error": 1,
        "engine_error": 1,
        "video_not_found": 1,
        "decode_error": 1,
    }
    recs = read_jsonl(journal_path(out, 0))
    transient = {r["__key"] for r in recs if r["status"] == "error" and r["error"]["transient"]}
    assert len(transient) == 2 and str(videos[1]) in transient

    monkeypatch.setattr(DescribeTask, "build_messages", real)
    again = run_rank(cfg, 0, 1, FakeEngine, lambda t: None, processor)
    assert (again.todo, again.done, again.failed) == (2, 2, 0)  # exactly the transient two
    report = merge_outputs(cfg)
    assert (report.ok, report.failed, report.errors_by_kind) == (
        4,
        2,
        {"video_not_found": 1, "decode_error": 1},
    )


def test_over_long_prompts_never_reach_the_engine(tmp_path, tiny_model, video_dir, processor):
    short = sorted(video_dir.glob("*.mp4"))[:3]  # 4 frames: 109 tokens each
    long = make_video(tmp_path / "long.mp4", seconds=4.0, fps=8)  # 8 frames: 117 tokens
    inp = write_input_jsonl(tmp_path / "in.jsonl", [short[0], long, *short[1:]])
    out = tmp_path / "o.jsonl"
    cfg = _cfg(tiny_model, inp, out, vllm={"max_model_len": 113}, run={"max_in_flight": 4})
    engines: list[FakeEngine] = []

    def factory():
        engines.append(FakeEngine())
        return engines[-1]

    stats = run_rank(cfg, 0, 1, factory, lambda t: None, processor)
    assert (stats.done, stats.errors_by_kind) == (3, {"too_many_tokens": 1})
    assert len(engines[0].added) == 3
    [err] = [r for r in read_jsonl(journal_path(out, 0)) if r["status"] == "error"]
    assert err["__key"] == str(long)
    assert (
        "117 tokens" in err["error"]["message"]
        and "max_model_len is 113" in err["error"]["message"]
    )
