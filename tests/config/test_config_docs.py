"""docs/config.md's reference is generated from the models' field descriptions."""

from __future__ import annotations

from video_pipeline.config import docs
from video_pipeline.config.schema import Config
from video_pipeline.workflow.settings import WorkflowSettings


def test_the_reference_is_current():
    assert not docs.is_stale(), f"docs/config.md is stale: run {docs.REGENERATE}"
    assert docs.main([]) == 0


def test_every_field_is_described_and_listed():
    text = docs.PAGE.read_text()
    for model in (Config, WorkflowSettings):
        for name, field in model.model_fields.items():
            inner = getattr(field.annotation, "model_fields", {})
            for sub, f in inner.items():
                assert f.description, f"{name}.{sub} has no description"
                key = f'`{name}."<url prefix>"`' if sub == "prefixes" else f"`{name}.{sub}`"
                assert key in text
            if not inner:
                assert field.description, f"{name} has no description"
                assert f"| `{name}` |" in text


def test_a_changed_description_makes_the_page_stale():
    text = docs.PAGE.read_text()
    assert docs.rendered(text) == text
    assert docs.rendered(text.replace("input JSONL, one video per row", "x")) == text
