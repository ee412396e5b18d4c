"""schemas/: the JSON Schemas exported from the config models, as the Snakefile uses them."""

from __future__ import annotations

import copy

import pytest
import yaml
from snakemake.utils import update_config, validate

from tests.helpers import REPO
from video_pipeline.config.schemas import main, stale

WORKFLOW = str(REPO / "schemas" / "workflow.schema.json")


def test_committed_schemas_are_current():
    assert stale() == [], "run: python -m video_pipeline.config.schemas --write"
    assert main([]) == 0


def layered(*overlays: dict) -> dict:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    for extra in [yaml.safe_load((REPO / "configs" / "demo.yaml").read_text()), *overlays]:
        update_config(cfg, copy.deepcopy(extra))
    return cfg


@pytest.mark.parametrize(
    "overlay",
    [
        {},
        {"fresh": "true", "gpu_ids": [0, "GPU-1"]},  # --config values arrive as strings
        {"tasks": ["describe"], "storage": {"s3://bucket": {"anon": True}, "retries": 1}},
        {"clips": {"mode": "fixed", "seconds": 10}, "vision": None},
    ],
)
def test_the_workflow_schema_takes_what_load_workflow_takes_and_adds_nothing(overlay: dict):
    from video_pipeline.workflow.settings import load_workflow

    cfg = layered(overlay)
    load_workflow(copy.deepcopy(cfg))
    before = copy.deepcopy(cfg)
    validate(cfg, WORKFLOW, set_default=False)
    assert cfg == before


@pytest.mark.parametrize(
    "overlay",
    [
        {"num_shards": 0},
        {"colour": "red"},
        {"data": {"input_jsonl": "x.jsonl"}},  # set by the workflow for each job
        {"vision": {"fps": "fast"}},
        {"tasks": [{"name": "bad/name"}]},
    ],
)
def test_the_workflow_schema_refuses_what_load_workflow_refuses(overlay: dict):
    from snakemake.exceptions import WorkflowError

    with pytest.raises(WorkflowError):
        validate(layered(overlay), WORKFLOW, set_default=False)


def test_the_launch_schema_takes_the_seed_config():
    seed = yaml.safe_load((REPO / "configs" / "describe.yaml").read_text())
    validate(seed, str(REPO / "schemas" / "config.schema.json"), set_default=False)
