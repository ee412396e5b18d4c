"""Several tasks in one rank: one decode per video, one request and one journal per task."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import demo_config, read_jsonl
from video_pipeline.config import load_config
from video_pipeline.config.loader import task_configs
from video_pipeline.data.base import BaseDataset
from video_pipeline.engine.fake import FakeEngine
from video_pipeline.fingerprint import fingerprint
from video_pipeline.io.journal import journal_path
from video_pipeline.runner.rank import run_rank, run_tasks

TASKS = [
    {"name": "describe"},
    {"name": "short", "task": "describe", "task_params": {"prompt": "One word."}},
]


@pytest.fixture(scope="module")
def processor(tiny_model: Path):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_model)


def _group(tiny_model, input_jsonl, tmp_path, **data):
    raw = demo_config(tiny_model, input_jsonl, tmp_path / "o.{task}.jsonl", data=data)
    del raw["run"]["task"]
    raw["tasks"] = TASKS
    return load_config(data=raw)


class _Decodes:
    """Counts decodes across processes: each one appends a line to a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __len__(self) -> int:
        return len(self.path.read_text().splitlines()) if self.path.exists() else 0


def _count_decodes(monkeypatch, tmp_path: Path) -> _Decodes:
    calls = _Decodes(tmp_path / "decodes.log")
    real = BaseDataset.decode_vision  # the frames' decode

    def counting(self, messages):
        with open(calls.path, "a") as f:  # decode workers are other processes
            f.write("decode\n")
        return real(self, messages)

    monkeypatch.setattr(BaseDataset, "decode_vision", counting)
    return calls


def test_each_video_is_decoded_once_for_all_tasks(
    tmp_path, tiny_model, input_jsonl, processor, monkeypatch
):
    calls = _count_decodes(monkeypatch, tmp_path)
    cfgs = task_configs(_group(tiny_model, input_jsonl, tmp_path, num_workers=0))
    engines: list[FakeEngine] = []

    def factory():
        engines.append(FakeEngine())
        return engines[-1]

    stats = run_tasks(cfgs, 0, 1, factory, lambda t: None, processor)
    assert len(calls) == 8  # not 16
    assert [(s.done, s.failed, s.decodes) for s in stats] == [(8, 0, 8), (8, 0, 8)]
    # Both requests for a video carry the very same decoded frames, and their own prompt.
    inputs = engines[0].inputs
    assert len(inputs) == 16
    by_video: dict[int, list[dict]] = {}
    for x in inputs:
        by_video.setdefault(id(x["multi_modal_data"]), []).append(x)
    assert sorted(len(v) for v in by_video.values()) == [2] * 8
    for pair in by_video.values():
        assert "One word." in pair[1]["prompt"] and "One word." not in pair[0]["prompt"]
    for cfg in cfgs:
        keys = [r["__key"] for r in read_jsonl(journal_path(cfg.data.output_jsonl, 0))]
        assert len(keys) == len(set(keys)) == 8


def test_a_group_resumes_each_task_from_its_own_journals(
    tmp_path, tiny_model, input_jsonl, processor
):
    cfgs = task_configs(_group(tiny_model, input_jsonl, tmp_path, num_workers=1))
    # `describe` ran alone before, on half the rows (rank 0 of 2): the same journal and
    # fingerprint as the group's entry, so the group resumes it.
    alone = run_rank(cfgs[0], 0, 2, FakeEngine, lambda t: None, processor)
    assert alone.done == 4
    stats = run_tasks(cfgs, 0, 1, FakeEngine, lambda t: None, processor)
    assert [(s.skipped_done, s.done) for s in stats] == [(4, 4), (0, 8)]
    assert [s.decodes for s in stats] == [4, 8]  # the 4 shared videos count in both
    assert stats[0].shared_with == [cfgs[1].data.output_jsonl]
    # A rerun finds everything done and decodes nothing.
    again = run_tasks(cfgs, 0, 1, FakeEngine, lambda t: None, processor)
    assert [(s.skipped_done, s.todo) for s in again] == [(8, 0), (8, 0)]
    for cfg in cfgs:
        keys = [r["__key"] for r in read_jsonl(journal_path(cfg.data.output_jsonl, 0))]
        assert len(keys) == len(set(keys)) == 8


def test_a_bad_video_fails_in_every_task(tmp_path, tiny_model, input_jsonl, processor):
    lines = input_jsonl.read_text().splitlines()
    lines.append('{"path": "missing.mp4"}')
    input_jsonl.write_text("\n".join(lines) + "\n")
    cfgs = task_configs(_group(tiny_model, input_jsonl, tmp_path, num_workers=1))
    stats = run_tasks(cfgs, 0, 1, FakeEngine, lambda t: None, processor)
    assert [(s.done, s.failed) for s in stats] == [(8, 1), (8, 1)]
    assert all(s.errors_by_kind == {"video_not_found": 1} for s in stats)


def test_entries_keep_the_fingerprint_of_the_same_task_run_alone(tmp_path, tiny_model, input_jsonl):
    group = task_configs(_group(tiny_model, input_jsonl, tmp_path))
    raw = demo_config(tiny_model, input_jsonl, tmp_path / "o.short.jsonl")
    raw["task_params"] = {"prompt": "One word."}
    alone = load_config(data=raw)
    assert group[1].data.output_jsonl == str(tmp_path / "o.short.jsonl")
    assert fingerprint(group[1]) == fingerprint(alone)
    assert fingerprint(group[0]) != fingerprint(group[1])


class _OwnGetitem(BaseDataset):
    """A dataset written to the seed's contract: its own __getitem__."""

    def __getitem__(self, i):
        return super().__getitem__(i)


def test_a_dataset_with_its_own_getitem_decodes_per_task(
    tmp_path, tiny_model, input_jsonl, processor
):
    import numpy as np

    from video_pipeline.data.samples import SampleSource
    from video_pipeline.data.shared import SharedDecode
    from video_pipeline.io.jsonl import InputIndex
    from video_pipeline.tasks.registry import get_task_class

    cfgs = task_configs(_group(tiny_model, input_jsonl, tmp_path))
    index = InputIndex.build(str(input_jsonl), "path", None)
    samples = SampleSource(index, np.arange(8), "path", None)
    tasks = [get_task_class(c.run.task)(**c.task_kwargs) for c in cfgs]
    pending = np.ones((8, 2), dtype=bool)
    pending[3, 0] = False  # sample 3 is pending for the second task only
    shared = SharedDecode(
        [_OwnGetitem(samples, t, processor, cfgs[0].vision) for t in tasks], pending
    )
    assert not shared.shared
    item = shared[0]
    assert item.tasks == [0, 1] and item.decodes == 2 and len(item.inputs) == 2
    assert shared[3].tasks == [1]
    plain = SharedDecode(
        [BaseDataset(samples, t, processor, cfgs[0].vision) for t in tasks], pending
    )
    assert plain.shared and plain[0].decodes == 1
