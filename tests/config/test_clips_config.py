"""The clips section: absent is today's behaviour; bad values name their key."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import REPO
from video_pipeline.config import ConfigError, load_config
from video_pipeline.config.loader import dump_config, task_configs
from video_pipeline.fingerprint import fingerprint

SEED = REPO / "configs" / "describe.yaml"
BASE: dict[str, Any] = {
    "data": {"input_jsonl": "in.jsonl", "output_jsonl": "out.jsonl"},
    "vllm": {"model": "m"},
}


def config(clips: dict[str, Any] | None = None, **extra: Any):
    data = {**BASE, **extra}
    if clips is not None:
        data["clips"] = clips
    return load_config(data=data)


def test_the_seed_config_has_clips_off_and_keeps_its_shape():
    cfg = load_config(SEED)
    assert cfg.clips.mode == "none"
    assert not cfg.clips.enabled
    assert "clips" not in cfg.to_dict()
    assert "clips" not in dump_config(cfg)


def test_defaults_are_the_documented_ones():
    c = config({"mode": "fixed"}).clips
    assert (c.mode, c.seconds, c.overlap, c.min_seconds, c.summary) == ("fixed", 30, 0, 2, False)


def test_clips_off_leaves_the_fingerprint_as_it_was():
    absent = fingerprint(config())
    assert fingerprint(config({"mode": "none"})) == absent
    assert fingerprint(config({"mode": "none", "seconds": 10, "min_seconds": 1})) == absent


def test_clip_bounds_are_part_of_the_fingerprint_when_on():
    base = {"mode": "fixed", "seconds": 30, "overlap": 0, "min_seconds": 2}
    prints = {fingerprint(config(base)), fingerprint(config())}
    for change in ({"seconds": 20}, {"overlap": 5}, {"min_seconds": 1}, {"mode": "shots"}):
        prints.add(fingerprint(config({**base, **change})))
    assert len(prints) == 6
    # The summary pass is a task of its own: it changes no clip's answer.
    assert fingerprint(config({**base, "summary": True})) == fingerprint(config(base))


def test_an_override_turns_clips_on():
    cfg = load_config(SEED, overrides=["clips.mode=fixed", "clips.seconds=60"])
    assert (cfg.clips.mode, cfg.clips.seconds) == ("fixed", 60.0)
    assert cfg.to_dict()["clips"]["seconds"] == 60.0


def test_every_task_of_a_group_gets_the_clips_section():
    cfg = config(
        {"mode": "fixed", "seconds": 20},
        tasks=["describe", "structured_caption"],
        data={"input_jsonl": "in.jsonl", "output_jsonl": "out.{task}.jsonl"},
    )
    assert [c.clips.seconds for c in task_configs(cfg)] == [20.0, 20.0]


@pytest.mark.parametrize(
    ("clips", "message"),
    [
        ({"mode": "fixed", "overlap": 30}, "clips.overlap must be < clips.seconds (30), got 30"),
        (
            {"mode": "fixed", "min_seconds": 45},
            "clips.min_seconds must be < clips.seconds (30), got 45",
        ),
        ({"mode": "fixed", "seconds": 0}, "clips.seconds must be a finite number > 0, got 0"),
        ({"mode": "fixed", "seconds": -5}, "clips.seconds must be a finite number > 0, got -5"),
        ({"mode": "fixed", "seconds": float("inf")}, "clips.seconds must be a finite number > 0"),
        ({"mode": "fixed", "overlap": -1}, "clips.overlap must be a finite number >= 0, got -1"),
        ({"mode": "fixed", "min_seconds": 0}, "clips.min_seconds must be a finite number > 0"),
        ({"mode": "fixed", "seconds": "long"}, "clips.seconds must be a number, got 'long'"),
        ({"mode": "windows"}, "clips.mode must be one of none, fixed, shots, got 'windows'"),
        ({"mode": "fixed", "length": 30}, "clips.length is not a known key"),
        ({"mode": "shots", "overlap": 2}, "clips.overlap must be 0 with clips.mode: shots"),
        ({"summary": True}, "clips.summary needs clips.mode fixed or shots, got mode none"),
        ({"mode": "fixed", "summary": "yes"}, "clips.summary must be true or false, got 'yes'"),
    ],
)
def test_bad_values_name_the_key_the_value_and_what_is_allowed(clips, message):
    with pytest.raises(ConfigError) as e:
        config(clips)
    assert any(message in p for p in e.value.problems), e.value.problems


def test_a_section_that_is_not_a_mapping_is_refused():
    with pytest.raises(ConfigError, match="clips must be a mapping, got str"):
        config("fixed")  # type: ignore[arg-type]
