"""The runner's scheduling, with FakeEngine standing in for vLLM (decode is real)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import demo_config, read_jsonl
from video_pipeline.config import load_config
from video_pipeline.engine.fake import FakeEngine
from video_pipeline.io.journal import journal_path
from video_pipeline.runner.rank import run_rank


@pytest.fixture(scope="module")
def processor(tiny_model: Path):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_model)


def _cfg(tiny_model, input_jsonl, out, **run):
    raw = demo_config(tiny_model, input_jsonl, out, data={"num_workers": 0}, run=run)
    return load_config(data=raw)


def test_window_stays_full_and_each_key_once(tmp_path, tiny_model, input_jsonl, processor):
    out = tmp_path / "o.jsonl"
    cfg = _cfg(tiny_model, input_jsonl, out, max_in_flight=3, batch_size=2)
    engines = []

    def factory():
        engines.append(FakeEngine(steps_per_request=4, step_s=0.1))
        return engines[0]

    stats = run_rank(cfg, 0, 1, factory, lambda t: None, processor)
    assert stats.done == 8 and stats.failed == 0
    hist = engines[0].in_flight_history
    assert max(hist) == 3  # never above the window
    # While input remains, the window is refilled before each step (no drain per batch).
    assert hist[: len(hist) - 3].count(3) >= len(hist) - 6
    keys = [r["__key"] for r in read_jsonl(journal_path(out, 0))]
    assert len(keys) == len(set(keys)) == 8


def test_ranks_split_and_resume_skips_done(tmp_path, tiny_model, input_jsonl, processor):
    out = tmp_path / "o.jsonl"
    cfg = _cfg(tiny_model, input_jsonl, out)
    s0 = run_rank(cfg, 0, 2, FakeEngine, lambda t: None, processor)
    assert s0.done == 4
    # A rerun with one rank finds rank 0's keys in its journal and runs only the rest.
    s = run_rank(cfg, 0, 1, FakeEngine, lambda t: None, processor)
    assert (s.skipped_done, s.done) == (4, 4)
    again = run_rank(cfg, 0, 1, FakeEngine, lambda t: None, processor)
    assert (again.skipped_done, again.done, again.todo) == (8, 0, 0)
    keys = [r["__key"] for r in read_jsonl(journal_path(out, 0))]
    assert len(keys) == len(set(keys)) == 8


def test_rejected_request_fails_alone(tmp_path, tiny_model, input_jsonl, processor):
    out = tmp_path / "o.jsonl"
    cfg = _cfg(tiny_model, input_jsonl, out)
    stats = run_rank(cfg, 0, 1, lambda: FakeEngine(max_prompt=10), lambda t: None, processor)
    assert stats.failed == 8 and stats.errors_by_kind == {"too_many_tokens": 8}
    recs = read_jsonl(journal_path(out, 0))
    assert {r["error"]["kind"] for r in recs} == {"too_many_tokens"}


def test_window_defaults_to_the_engine_batch_bounded_by_memory(tiny_model, input_jsonl, tmp_path):
    from video_pipeline.runner.rank import MAX_WINDOW, in_flight_window

    cfg = _cfg(tiny_model, input_jsonl, tmp_path / "o.jsonl")
    assert in_flight_window(cfg, 48) == 48
    assert in_flight_window(cfg, 1024) == MAX_WINDOW
    assert in_flight_window(cfg, None) == 32
    fixed = _cfg(tiny_model, input_jsonl, tmp_path / "o.jsonl", max_in_flight=5)
    assert in_flight_window(fixed, 1024) == 5


def test_a_task_whose_parse_crashes_loses_only_its_samples(
    tmp_path, tiny_model, input_jsonl, processor, monkeypatch
):
    from video_pipeline.tasks.describe import DescribeTask

    def broken(self, text, sample):
        raise KeyError("oops")

    monkeypatch.setattr(DescribeTask, "parse", broken)
    out = tmp_path / "o.jsonl"
    stats = run_rank(
        _cfg(tiny_model, input_jsonl, out), 0, 1, FakeEngine, lambda t: None, processor
    )
    assert (stats.done, stats.failed) == (0, 8)
    recs = read_jsonl(journal_path(out, 0))
    assert all("DescribeTask.parse raised KeyError" in r["error"]["message"] for r in recs)
    assert all(r["text"] == "fake answer" for r in recs)  # the answer is kept
