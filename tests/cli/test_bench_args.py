"""`cli.bench` takes the run's config as every command does: which task's config it
measures, resolved without starting an engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from video_pipeline.cli.bench import parse_args, task_config


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_workflow_config_and_its_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("in.jsonl").write_text(json.dumps({"path": "a.mp4"}) + "\n")
    path = write(
        tmp_path / "run.yaml",
        {
            "input": "in.jsonl",
            "outdir": "out",
            "tasks": [{"name": "describe"}, {"name": "caption", "task": "structured_caption"}],
            "num_shards": 2,
            "gpus_per_job": 0,
            "vllm": {"model": str(tmp_path / "model")},
        },
    )
    first = task_config(parse_args(["--config", str(path)]), {})
    assert first.run.task == "describe"
    assert Path(first.data.input_jsonl).resolve() == (tmp_path / "in.jsonl").resolve()
    args = parse_args(["--config", str(path), "--task", "caption", "--set", "vllm.max_num_seqs=3"])
    caption = task_config(args, {"data.num_workers": "5"})  # a sweep's settings on top
    assert caption.run.task == "structured_caption"
    assert (caption.vllm.max_num_seqs, caption.data.num_workers) == (3, 5)
    with pytest.raises(SystemExit):
        task_config(parse_args(["--config", str(path), "--task", "nope"]), {})


def test_a_launch_config_with_several_tasks(tmp_path: Path) -> None:
    path = write(
        tmp_path / "launch.yaml",
        {
            "data": {
                "input_jsonl": str(tmp_path / "in.jsonl"),
                "output_jsonl": str(tmp_path / "out.{task}.jsonl"),
            },
            "vllm": {"model": str(tmp_path / "model")},
            "tasks": [{"name": "describe"}, {"name": "short", "task": "describe"}],
        },
    )
    cfg = task_config(parse_args(["--config", str(path), "--task", "short"]), {})
    assert cfg.data.output_jsonl == str(tmp_path / "out.short.jsonl")
