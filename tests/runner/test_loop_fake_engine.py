"""The runner's scheduling, with FakeEngine standing in for vLLM (decode is real)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers import demo_config, read_jsonl
from video_pipeline.config import load_config
from video_pipeline.engine.base import Finished
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


def test_window_stays_full_and_each_key_once(
    tmp_path, tiny_model, input_jsonl, processor, monkeypatch
):
    """The engine steps with a free slot only when no decoded sample was waiting.

    Every `get` of rendered samples and every step is logged in order; the claim is
    checked on that log, so it holds however fast decoding happens to be.
    """
    from video_pipeline.runner import feed as feed_module
    from video_pipeline.runner import render as render_module

    events: list[tuple[str, object]] = []
    feeds: list = []
    real_get, real_init = render_module.RenderPool.get, render_module.RenderPool.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        feeds.append(self)

    def logged_get(self, block):
        item = real_get(self, block)
        kind = (
            "empty" if item is feed_module.EMPTY else "end" if item is feed_module.END else "item"
        )
        events.append(("get", kind))
        return item

    monkeypatch.setattr(render_module.RenderPool, "get", logged_get)
    monkeypatch.setattr(render_module.RenderPool, "__init__", init)

    class _Logged(FakeEngine):
        def step(self):
            if not self.in_flight_history:  # a slow first step: decoded samples pile up
                deadline = time.monotonic() + 60
                while feeds[0].ready() < 3 and time.monotonic() < deadline:
                    time.sleep(0.01)
            events.append(("step", len(self._queue)))
            return super().step()

    out = tmp_path / "o.jsonl"
    cfg = _cfg(tiny_model, input_jsonl, out, max_in_flight=3, batch_size=2)
    stats = run_rank(cfg, 0, 1, lambda: _Logged(steps_per_request=4), lambda t: None, processor)
    assert stats.done == 8 and stats.failed == 0
    steps = [n for e, n in events if e == "step"]
    assert max(steps) == 3  # never above the window
    exhausted = False
    last_get = None
    for event, value in events:
        if event == "get":
            last_get = value
            exhausted = exhausted or value == "end"
        elif value < 3 and not exhausted:
            assert last_get == "empty", events  # a sample was ready, yet the slot idled
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


class _ErrorFinishes(FakeEngine):
    """Ends every request with an error and no tokens, as an engine in its own process
    does with a request it cannot take."""

    def step(self):
        return [
            Finished(f.request_id, "", 10, 0, "error", error=("engine_error", "refused"))
            for f in super().step()
        ]


def test_an_error_finish_is_an_engine_error_not_an_empty_answer(
    tmp_path, tiny_model, input_jsonl, processor
):
    out = tmp_path / "o.jsonl"
    cfg = _cfg(tiny_model, input_jsonl, out)
    stats = run_rank(cfg, 0, 1, _ErrorFinishes, lambda t: None, processor)
    assert stats.failed == 8 and stats.errors_by_kind == {"engine_error": 8}
    recs = read_jsonl(journal_path(out, 0))
    assert {(r["error"]["kind"], r["error"]["message"]) for r in recs} == {
        ("engine_error", "refused")
    }


def test_window_defaults_to_the_engine_batch_bounded_by_memory(tiny_model, input_jsonl, tmp_path):
    from video_pipeline.runner.rank import MAX_WINDOW, in_flight_window

    cfg = _cfg(tiny_model, input_jsonl, tmp_path / "o.jsonl")
    assert in_flight_window(cfg, 48) == 48
    assert in_flight_window(cfg, 1024) == 1024  # memory is bounded by max_in_flight_mb
    assert in_flight_window(cfg, None) == 32
    by_count = _cfg(tiny_model, input_jsonl, tmp_path / "o.jsonl", max_in_flight_mb=None)
    assert in_flight_window(by_count, 1024) == MAX_WINDOW
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


def test_a_slow_decode_delays_nothing_else(
    tmp_path, tiny_model, input_jsonl, processor, monkeypatch
):
    """One video takes seconds to decode; every other one is answered meanwhile."""
    from video_pipeline.data.base import BaseDataset

    real = BaseDataset.decode_vision

    def slow_for_one(self, messages):
        if "video_001" in str(messages):
            time.sleep(4)
        return real(self, messages)

    monkeypatch.setattr(BaseDataset, "decode_vision", slow_for_one)
    out = tmp_path / "o.jsonl"
    cfg = _cfg(tiny_model, input_jsonl, out, max_in_flight=2)
    cfg.data.num_workers = 2
    stats = run_rank(cfg, 0, 1, FakeEngine, lambda t: None, processor)
    assert stats.done == 8
    recs = read_jsonl(journal_path(out, 0))
    assert "video_001" in recs[-1]["__key"]  # journal order follows completion
    slow = recs[-1]["time"]
    assert all(r["time"] < slow - 2 for r in recs[:-1])  # none waited for it


def test_decoded_bytes_in_flight_stay_under_the_bound(tmp_path, tiny_model, video_dir, processor):
    from video_pipeline.fixtures.videos import make_video, write_input_jsonl

    videos = [
        make_video(tmp_path / f"v{i}.mp4", seconds=2.0, fps=8, width=320, height=240, seed=i)
        for i in range(6)
    ]
    inp = write_input_jsonl(tmp_path / "in.jsonl", videos)
    out = tmp_path / "o.jsonl"
    raw = demo_config(
        tiny_model,
        inp,
        out,
        data={"num_workers": 1},
        vision={"total_pixels": 4 * 320 * 240, "max_pixels": 320 * 240},
        run={"max_in_flight": 8, "max_in_flight_mb": 0.5},
    )
    cfg = load_config(data=raw)
    stats = run_rank(
        cfg, 0, 1, lambda: FakeEngine(steps_per_request=4, step_s=0.3), lambda t: None, processor
    )
    assert stats.done == 6
    one = stats.peak_in_flight_mb
    # Over the bound by at most the one sample a worker decodes meanwhile; without a
    # bound, the window holds several.
    other = {**raw["data"], "output_jsonl": str(tmp_path / "unbounded.jsonl")}
    unbounded = run_rank(
        load_config(data={**raw, "data": other, "run": {**raw["run"], "max_in_flight_mb": None}}),
        0,
        1,
        lambda: FakeEngine(steps_per_request=4, step_s=0.3),
        lambda t: None,
        processor,
    )
    assert 0 < one < unbounded.peak_in_flight_mb
    per_sample = unbounded.peak_in_flight_mb / 6
    assert one <= 0.5 + 2 * per_sample
