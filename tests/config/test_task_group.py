"""`tasks` in a launch config: several tasks on one decode, each checked on its own."""

from __future__ import annotations

import pytest
import yaml

from tests.helpers import REPO
from video_pipeline.config import ConfigError, dump_config, load_config
from video_pipeline.config.loader import task_configs
from video_pipeline.tasks.base import Task

SEED = REPO / "configs" / "describe.yaml"


def _group(tasks, output="/tmp/out/o.{task}.jsonl", **run):
    data = yaml.safe_load(SEED.read_text())
    data["data"]["output_jsonl"] = output
    data["run"].pop("task")
    data["run"].update(run)
    data["tasks"] = tasks
    return data


def test_a_group_expands_to_one_config_per_task():
    cfg = load_config(
        data=_group(
            [
                "describe",
                {
                    "name": "captions",
                    "task": "structured_caption",
                    "sampling": {"temperature": 0.7},
                    "task_params": {"fields": ["summary"]},
                },
            ]
        )
    )
    one, two = task_configs(cfg)
    assert (one.run.task, two.run.task) == ("describe", "structured_caption")
    assert one.data.output_jsonl == "/tmp/out/o.describe.jsonl"
    assert two.data.output_jsonl == "/tmp/out/o.captions.jsonl"
    assert (one.sampling.temperature, two.sampling.temperature) == (0.2, 0.7)
    assert two.task_params == {"dataset": {}, "fields": ["summary"]}
    assert not one.tasks and not two.tasks
    # The written form (what the workflow hands to launch) loads back the same.
    again = load_config(data=yaml.safe_load(dump_config(cfg)))
    assert [c.to_dict() for c in task_configs(again)] == [one.to_dict(), two.to_dict()]


@pytest.mark.parametrize(
    "tasks, output, expected",
    [
        (["describe"], "/tmp/o.jsonl", "data.output_jsonl must contain {task}"),
        ([], "/tmp/o.{task}.jsonl", "tasks must be a non-empty list"),
        (["describe", "describe"], "/tmp/o.{task}.jsonl", "'describe' is used twice"),
        (
            ["describe", {"name": "x", "task": "describe", "sampling": {"top_p": 2}}],
            "/tmp/o.{task}.jsonl",
            "tasks[1] (x): sampling.top_p must be in (0, 1], got 2",
        ),
        (
            ["describe", {"name": "y", "task": "nope"}],
            "/tmp/o.{task}.jsonl",
            "tasks[1] (y): run.task: unknown task 'nope'",
        ),
        (
            ["describe", {"name": "z", "task": "describe", "task_params": {"dataset": {"a": 1}}}],
            "/tmp/o.{task}.jsonl",
            "tasks[1] (z).task_params.dataset differs",
        ),
    ],
)
def test_bad_groups_name_the_entry(tasks, output, expected):
    with pytest.raises(ConfigError) as e:
        load_config(data=_group(tasks, output))
    assert expected in str(e.value)


def test_run_task_and_tasks_are_exclusive():
    data = _group(["describe"])
    data["run"]["task"] = "describe"
    with pytest.raises(ConfigError, match=r"run\.task and tasks are exclusive"):
        load_config(data=data)


class _FramesTask(Task):
    name = "test_frames_task"
    dataset_name = "frames"


def test_tasks_on_different_datasets_cannot_share_a_decode(monkeypatch):
    from video_pipeline.tasks.registry import TASKS

    monkeypatch.setitem(TASKS._items, _FramesTask.name, _FramesTask)
    with pytest.raises(ConfigError, match="their datasets must read videos alike"):
        load_config(data=_group(["describe", "test_frames_task"]))
    load_config(data=_group(["describe", "transcribe"]))  # frames and audio: one decode


def test_a_task_may_hear_or_not_on_its_own():
    """`vision.use_audio_in_video` per entry: the task's config (and fingerprint) hears,
    the others keep the shared setting; any other vision key is one for all."""
    from video_pipeline.fingerprint import fingerprint

    plain = task_configs(load_config(data=_group(["describe"])))[0]
    tasks = [
        "describe",
        {"name": "heard", "task": "describe", "vision": {"use_audio_in_video": True}},
    ]
    seen, heard = task_configs(load_config(data=_group(tasks)))
    assert (seen.vision.use_audio_in_video, heard.vision.use_audio_in_video) == (False, True)
    assert heard.vision.model_dump(exclude={"use_audio_in_video"}) == seen.vision.model_dump(
        exclude={"use_audio_in_video"}
    )
    assert fingerprint(seen) == fingerprint(plain) != fingerprint(heard)
    bad = ["describe", {"name": "x", "task": "describe", "vision": {"fps": 1.0}}]
    with pytest.raises(ConfigError, match=r"tasks\.1\.vision\.fps|tasks\[1\].*fps"):
        load_config(data=_group(bad))
