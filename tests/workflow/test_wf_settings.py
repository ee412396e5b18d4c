"""The workflow's config: one schema, checked at parse time, fingerprints per task."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO
from video_pipeline.config import ConfigError
from video_pipeline.workflow.settings import load_workflow


def merged(*overlays: dict) -> dict:
    """config.yaml with configs/demo.yaml and overlays merged over it, as Snakemake does."""
    from snakemake.utils import update_config

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    for extra in [yaml.safe_load((REPO / "configs" / "demo.yaml").read_text()), *overlays]:
        update_config(cfg, copy.deepcopy(extra))
    return cfg


def problems(cfg: dict) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_workflow(cfg)
    return e.value.problems


def test_default_and_demo_configs_load() -> None:
    base = yaml.safe_load((REPO / "config.yaml").read_text())
    assert load_workflow(base).task_names == ["describe", "structured_caption"]
    wf = load_workflow(merged())
    assert wf.settings.num_shards == 2 and wf.shards == ["00000", "00001"]
    assert wf.settings.gpus_per_job == 0 and wf.settings.ranks_per_job == 1


def test_every_problem_is_named_with_its_key() -> None:
    bad = merged(
        {
            "num_shards": 0,
            "colour": "red",
            "data": {"input_jsonl": "x.jsonl"},
            "tasks": [
                {"name": "describe", "sampling": {"temperature": -1}},
                {"name": "cap", "task": "structured_captoin"},
                {"name": "bad/name"},
            ],
        }
    )
    found = "\n".join(problems(bad))
    assert "num_shards must be >= 1, got 0" in found
    assert "unknown key 'colour'" in found
    assert "data.input_jsonl is set by the workflow for each job; use `input`" in found
    # once the top level is valid, per-task problems are reported with the task's place
    found = "\n".join(problems(merged({"tasks": bad["tasks"], "data": {}})))
    assert "tasks[0] (describe): sampling.temperature must be >= 0, got -1.0" in found
    assert "tasks[1] (cap): run.task: unknown task 'structured_captoin'" in found
    assert "Did you mean 'structured_caption'" in found
    assert "tasks[2].name must be letters" in found


def test_task_params_override_reaches_the_job_config() -> None:
    wf = load_workflow(merged({"task_params": {"dataset": {}}}))
    cfg = wf.shard_config("structured_caption", "00001")
    assert cfg.run.task == "structured_caption"
    assert cfg.task_params["fields"] == ["summary"]
    assert cfg.sampling.temperature == 0.7
    assert cfg.data.input_jsonl.endswith("demo/out/shards/00001.jsonl")
    assert cfg.data.output_jsonl.endswith(
        "demo/out/work/structured_caption/00001/structured_caption.jsonl"
    )
    assert wf.shard_config("describe", "00000").sampling.temperature == 0.2


@pytest.mark.parametrize(
    ("overlay", "changes"),
    [
        ({"sampling": {"top_p": 0.5}}, {"describe", "structured_caption"}),
        ({"sampling": {"max_tokens": 99}}, {"describe"}),  # structured_caption sets its own
        ({"vllm": {"model": "other"}}, {"describe", "structured_caption"}),
        ({"vision": {"fps": 1}}, {"describe", "structured_caption"}),
        ("describe's prompt", {"describe"}),
        ({"run": {"batch_size": 8, "log_every": 1}, "data": {"num_workers": 4}}, set()),
        ({"gpus_per_job": 2, "num_shards": 2, "fresh": True}, set()),
    ],
)
def test_fingerprint_changes_only_with_answers(overlay: dict | str, changes: set[str]) -> None:
    before = load_workflow(merged())
    if overlay == "describe's prompt":  # one task's override, the other task as it was
        tasks = copy.deepcopy(merged()["tasks"])
        tasks[0]["task_params"]["prompt"] = "Other?"
        overlay = {"tasks": tasks}
    after = load_workflow(merged(overlay))
    changed = {t for t in before.task_names if before.fingerprint(t) != after.fingerprint(t)}
    assert changed == changes


def test_fresh_turns_resume_off_for_jobs() -> None:
    assert load_workflow(merged()).shard_config("describe", "00000").data.resume is True
    for value in (True, "true", "True"):  # `--config fresh=true` arrives as a string
        wf = load_workflow(merged({"fresh": value}))
        assert wf.shard_config("describe", "00000").data.resume is False
    assert "fresh must be true or false, got 'yes'" in problems(merged({"fresh": "yes"}))


def test_gpu_pool_checks() -> None:
    found = "\n".join(problems(merged({"gpu_ids": [0, 0], "gpus_per_job": 3})))
    assert "gpu_ids lists an id twice" in found
    assert "gpus_per_job (3) must be <= the number of gpu_ids (2)" in found
    assert load_workflow(merged({"gpu_ids": ["0", 1]})).settings.pool == ["0", "1"]


def test_config_yaml_comments_every_key() -> None:
    lines = (REPO / "config.yaml").read_text().splitlines()
    keyed = [
        ln for ln in lines if ln.strip() and not ln.lstrip().startswith(("#", "- ")) and ":" in ln
    ]
    missing = [ln for ln in keyed if "#" not in ln and not ln.rstrip().endswith(":")]
    assert missing == []


def test_demo_paths_are_relative(tmp_path: Path) -> None:
    demo = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    assert not Path(demo["input"]).is_absolute() and not Path(demo["outdir"]).is_absolute()


def test_share_decode_job_runs_exactly_the_per_task_jobs() -> None:
    from video_pipeline.config.loader import task_configs

    wf = load_workflow(merged({"share_decode": True, "fresh": True}))
    for shard in wf.shards:
        group = task_configs(wf.group_config(shard))
        alone = [wf.shard_config(t, shard) for t in wf.task_names]
        assert [c.to_dict() for c in group] == [c.to_dict() for c in alone]
        assert not group[0].data.resume  # fresh applies to every task of the job


def test_share_decode_needs_tasks_that_read_videos_alike() -> None:
    tasks = [
        {"name": "describe"},
        {"name": "other", "task": "describe", "task_params": {"dataset": {"x": 1}}},
    ]
    assert load_workflow(merged({"tasks": tasks}))  # fine when each task runs alone
    errs = problems(merged({"tasks": tasks, "share_decode": "true"}))
    assert any(e.startswith("share_decode: tasks[1] (other).task_params.dataset") for e in errs)


def test_validation_does_no_io_the_remote_input_is_copied_after() -> None:
    from video_pipeline.workflow.settings import with_local_input

    url = "http://127.0.0.1:9/in/rows.jsonl"  # nothing listens: any fetch fails at once
    wf = load_workflow(merged({"input": url, "storage": {"retries": 0, "timeout_s": 2}}))
    assert wf.settings.input == url
    assert wf.shard_config("describe", "00000").data.base_dir == "http://127.0.0.1:9/in"
    with pytest.raises(ConfigError, match=r"input: .*rows\.jsonl"):
        with_local_input(wf)
