"""Decode workers that die or hang cost only their sample: real signals, real kills."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import torch

from tests.helpers import demo_config, read_jsonl
from video_pipeline.config import load_config
from video_pipeline.data.base import BaseDataset
from video_pipeline.data.sample import Prepared
from video_pipeline.engine.fake import FakeEngine
from video_pipeline.io.journal import journal_path
from video_pipeline.runner.feed import END, DecodeFeed
from video_pipeline.runner.rank import run_rank


class _Toy(torch.utils.data.Dataset):
    """Sample i is a tensor, or does what `faults[i]` says, in the worker process."""

    def __init__(self, n: int, faults: dict[int, str], pid_dir: Path) -> None:
        self.samples = [{"__key": f"k{i}", "raw": {"i": i}} for i in range(n)]
        self.faults = faults
        self.pid_dir = pid_dir

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        (self.pid_dir / f"{i}.pid").write_text(str(os.getpid()))
        fault = self.faults.get(i)
        if fault == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif fault == "abort":
            os.abort()
        elif fault == "exit":
            os._exit(3)
        elif fault == "oom":  # what the kernel's OOM killer sends
            os.kill(os.getpid(), signal.SIGKILL)
        elif fault == "hang":
            time.sleep(3600)  # a decoder stuck in native code: only a kill ends it
        elif fault == "slow":
            time.sleep(3)
        elif fault == "brief":
            time.sleep(0.5)
        frames = torch.full((4, 3, 8, 8), i, dtype=torch.uint8)
        return Prepared(i, f"k{i}", {"i": i}, [0], inputs=[{"frames": frames}])


def _drain(feed: DecodeFeed, limit_s: float = 60) -> list[dict]:
    items, t0 = [], time.monotonic()
    while (item := feed.get(block=True)) is not END:
        items.append(item)
        assert time.monotonic() - t0 < limit_s, "the feed did not finish"
    return items


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"


def test_crashes_and_hangs_cost_only_their_sample(tmp_path):
    faults = {1: "segv", 3: "abort", 5: "exit", 7: "oom", 9: "hang"}
    feed = DecodeFeed(_Toy(12, faults, tmp_path), workers=2, timeout_s=5, maxsize=8)
    try:
        items = {it.key: it for it in _drain(feed)}
    finally:
        feed.close()
    assert sorted(items) == sorted(f"k{i}" for i in range(12))  # each sample exactly once
    errors = {k: it.error for k, it in items.items() if it.error}
    assert {k: e.kind for k, e in errors.items()} == {
        "k1": "decode_crash",
        "k3": "decode_crash",
        "k5": "decode_crash",
        "k7": "decode_crash",
        "k9": "decode_timeout",
    }
    assert "SIGSEGV" in errors["k1"].message and "-11" in errors["k1"].message
    assert "SIGABRT" in errors["k3"].message
    assert "exited with code 3" in errors["k5"].message
    assert "SIGKILL" in errors["k7"].message and "OOM" in errors["k7"].message
    assert "run.decode_timeout_s=5" in errors["k9"].message
    assert not any(e.transient for e in errors.values())  # a plain rerun skips them
    for k, it in items.items():  # the good samples' tensors arrived intact
        if not it.error:
            assert int(it.inputs[0]["frames"][0, 0, 0, 0]) == int(k[1:])
    # The hung decode's worker was killed, not left behind holding its memory and file.
    hung = int((tmp_path / "9.pid").read_text())
    deadline = time.monotonic() + 10
    while _alive(hung) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(hung)


def test_a_slow_decode_holds_back_nothing_behind_it(tmp_path):
    feed = DecodeFeed(_Toy(8, {0: "slow"}, tmp_path), workers=2, timeout_s=30, maxsize=8)
    try:
        order = [it.key for it in _drain(feed)]
    finally:
        feed.close()
    assert sorted(order) == [f"k{i}" for i in range(8)]
    # k0 takes 3 s in one worker; the other worker finishes every other sample meanwhile.
    assert order[-1] == "k0"


def test_a_consumer_away_longer_than_the_timeout_costs_no_sample(tmp_path):
    """Nothing takes items while the rank builds its engine (a minute and more for an
    engine in its own process): decodes that finished meanwhile are good samples, not
    timeouts. The clock measures the decode, not the consumer's absence."""
    # Odd samples take a moment: one worker's item waits to be handed on while the
    # other's decode is still running, and then finishes during that wait.
    brief = {i: "brief" for i in range(1, 6, 2)}
    feed = DecodeFeed(_Toy(6, brief, tmp_path), workers=2, timeout_s=1, maxsize=1)
    try:
        time.sleep(3)  # the engine starting: every worker's decode has long finished
        items = _drain(feed)
    finally:
        feed.close()
    assert sorted(it.key for it in items) == [f"k{i}" for i in range(6)]
    assert not [it.error for it in items if it.error]
    assert feed.timeouts == 0


@pytest.fixture(scope="module")
def processor(tiny_model: Path):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_model)


@pytest.mark.parametrize("fault", ["segv", "hang"])
def test_the_rank_goes_on_and_a_rerun_skips_the_sample(
    tmp_path, tiny_model, input_jsonl, processor, monkeypatch, fault
):
    real = BaseDataset.decode_vision

    def faulty(self, messages):
        if "video_003" in str(messages):
            if fault == "segv":
                os.kill(os.getpid(), signal.SIGSEGV)
            time.sleep(3600)
        return real(self, messages)

    monkeypatch.setattr(BaseDataset, "decode_vision", faulty)
    out = tmp_path / "o.jsonl"
    raw = demo_config(
        tiny_model, input_jsonl, out, data={"num_workers": 1}, run={"decode_timeout_s": 5}
    )
    cfg = load_config(data=raw)
    stats = run_rank(cfg, 0, 1, FakeEngine, lambda t: None, processor)
    kind = {"segv": "decode_crash", "hang": "decode_timeout"}[fault]
    assert (stats.done, stats.failed, stats.errors_by_kind) == (7, 1, {kind: 1})
    recs = read_jsonl(journal_path(out, 0))
    failed = [r for r in recs if r["status"] == "error"]
    assert len(failed) == 1 and "video_003" in failed[0]["__key"]
    # The rerun does not decode it again (it would crash or hang again) ...
    again = run_rank(cfg, 0, 1, FakeEngine, lambda t: None, processor)
    assert (again.todo, again.skipped_done) == (0, 8)
    # ... unless asked to retry errors.
    monkeypatch.setattr(BaseDataset, "decode_vision", real)
    retry = run_rank(
        load_config(data={**raw, "run": {**raw["run"], "retry_errors": True}}),
        0,
        1,
        FakeEngine,
        lambda t: None,
        processor,
    )
    assert (retry.todo, retry.done) == (1, 1)


def test_cores_it_may_not_use_cost_speed_not_the_rank(tmp_path):
    """A core list from elsewhere (a wrong VP_DECODE_CORES): the workers run unpinned."""
    feed = DecodeFeed(_Toy(4, {}, tmp_path), workers=1, timeout_s=30, maxsize=4, cores={4096})
    try:
        items = _drain(feed)
    finally:
        feed.close()
    assert sorted(it.key for it in items) == ["k0", "k1", "k2", "k3"]
    assert not any(it.error for it in items)
