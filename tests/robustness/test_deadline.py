"""A hung decode is cut off per sample, with and without DataLoader workers."""

from __future__ import annotations

import json
import threading
import time

import pytest
from torch.utils.data import DataLoader, Dataset

from tests.helpers import demo_config
from video_pipeline.config import load_config
from video_pipeline.data.base import BaseDataset
from video_pipeline.data.deadline import DecodeDeadline
from video_pipeline.engine.fake import FakeEngine
from video_pipeline.io.journal import journal_path, read_head
from video_pipeline.runner.rank import run_rank


def _within(seconds: float, fn):
    """fn() in a thread; fails (instead of hanging the suite) if it does not return."""
    box: list = []
    t = threading.Thread(target=lambda: box.append(fn()), daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still running after {seconds} s: the hang was not cut off"
    return box[0]


class _Toy(Dataset):
    def __init__(self, n: int, hang: set[int]) -> None:
        self.samples = [{"__key": f"k{i}", "raw": {"i": i}} for i in range(n)]
        self.hang = hang

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        if i in self.hang:
            threading.Event().wait()
        if i == 5:
            raise KeyError("not swallowed")
        return {**self.samples[i], "llm_input": {}, "decode_s": 0.0}


@pytest.mark.parametrize("workers", [0, 2])
def test_hung_items_become_timeouts_and_the_rest_flows(workers):
    ds = DecodeDeadline(_Toy(5, hang={1, 3}), timeout_s=0.5)
    loader = DataLoader(ds, batch_size=1, num_workers=workers, collate_fn=lambda b: b)
    t0 = time.perf_counter()
    items = _within(30, lambda: [b[0] for b in loader])
    wall = time.perf_counter() - t0
    assert [i["__key"] for i in items] == ["k0", "k1", "k2", "k3", "k4"]
    timed_out = {i["__key"]: i["error"] for i in items if "error" in i}
    assert set(timed_out) == {"k1", "k3"}
    assert all(e["kind"] == "decode_timeout" and e["transient"] for e in timed_out.values())
    assert "run.decode_timeout_s=0.5" in timed_out["k1"]["message"]
    assert wall < 10  # two 0.5 s deadlines, not forever


def test_exceptions_of_the_dataset_still_surface():
    ds = DecodeDeadline(_Toy(6, hang=set()), timeout_s=5)
    with pytest.raises(KeyError, match="not swallowed"):
        ds[5]


@pytest.mark.parametrize("workers", [0, 1])
def test_rank_goes_on_after_a_hung_decode(
    tmp_path, tiny_model, input_jsonl, processor, monkeypatch, workers
):
    real = BaseDataset.decode_vision

    def hanging(self, messages):
        if "video_003" in str(messages):
            threading.Event().wait()
        return real(self, messages)

    monkeypatch.setattr(BaseDataset, "decode_vision", hanging)
    out = tmp_path / "o.jsonl"
    raw = demo_config(
        tiny_model, input_jsonl, out, data={"num_workers": workers}, run={"decode_timeout_s": 1}
    )
    cfg = load_config(data=raw)
    stats = _within(90, lambda: run_rank(cfg, 0, 1, FakeEngine, lambda t: None, processor))
    assert (stats.done, stats.failed) == (7, 1)
    assert stats.errors_by_kind == {"decode_timeout": 1}
    lines = journal_path(out, 0).read_bytes().splitlines(keepends=True)
    heads = [read_head(line, json.JSONDecoder()) for line in lines]
    failed = [h[0] for h in heads if h[1] == "error"]
    assert len(failed) == 1 and "video_003" in failed[0]
