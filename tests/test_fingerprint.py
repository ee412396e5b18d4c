"""The fingerprint: every answer-changing input moves it, throughput knobs do not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import REPO, demo_config
from video_pipeline.config import load_config
from video_pipeline.data.video_reader import resolve_reader
from video_pipeline.fingerprint import fingerprint, model_identity
from video_pipeline.fixtures.tiny_model import build_tiny_model

SEED = REPO / "configs" / "describe.yaml"


def test_fingerprint_tracks_answers_not_throughput():
    base = fingerprint(load_config(SEED))
    auto = resolve_reader("auto")
    other = next(r for r in ("torchcodec", "decord") if r != auto)
    same = [
        "data.num_workers=4",
        "run.batch_size=8",
        "run.log_every=1",
        "data.output_jsonl=/x.jsonl",
        f"vision.reader={auto}",  # what auto resolves to here
        "vision.frame_dtype=float32",
        "vision.resize=exact",  # the default: bit-identical to qwen_vl_utils' frames
        "vision.decode_device=cpu",
        "run.max_in_flight=3",
        "vllm.engine_kwargs.max_num_seqs=4",
        "vllm.engine_kwargs.block_size=32",
        "vllm.engine_kwargs.enable_chunked_prefill=false",
        "vllm.gpu_memory_utilization=0.5",
    ]
    for o in same:
        assert fingerprint(load_config(SEED, overrides=[o])) == base, o
    changed = [
        "vllm.model=other",
        "sampling.temperature=0.5",
        "task_params.prompt=Hi",
        "vision.fps=1",
        f"vision.reader={other}",  # readers sample frames differently
        "vision.resize=fast",  # other values, within rounding
        "vision.decode_device=cuda",  # NVDEC's colour conversion is its own
        "run.task=structured_caption",
        "sampling.max_tokens=10",
        "vllm.engine_kwargs.quantization=fp8",
        "vllm.engine_kwargs.revision=abc123",
        "vllm.engine_kwargs.mm_processor_kwargs={fps: 1}",
        "data.id_field=id",
    ]
    for o in changed:
        assert fingerprint(load_config(SEED, overrides=[o])) != base, o


@pytest.fixture
def model_copy(tmp_path: Path, tiny_model: Path) -> Path:
    dest = tmp_path / "model"
    shutil.copytree(tiny_model, dest)
    return dest


def test_a_model_folder_changed_in_place_is_another_model(model_copy: Path, tmp_path: Path):
    cfg = load_config(data=demo_config(model_copy, tmp_path / "in.jsonl", tmp_path / "o.jsonl"))
    before = fingerprint(cfg)
    assert before == fingerprint(cfg)  # stable
    # Downloaded again in place: same file names, same shapes, other weights.
    shutil.rmtree(model_copy)
    build_tiny_model(model_copy, seed=1)
    assert fingerprint(cfg) != before
    # A copied folder with the very same files is the same model.
    twin = tmp_path / "twin"
    shutil.copytree(model_copy, twin)
    assert model_identity(str(twin)) == model_identity(str(model_copy))


def test_the_chat_template_is_part_of_the_model(model_copy: Path):
    before = model_identity(str(model_copy))
    template = next(
        p for p in model_copy.iterdir() if p.name in ("chat_template.jinja", "chat_template.json")
    )
    template.write_text(template.read_text().replace("assistant", "helper"))
    assert model_identity(str(model_copy)) != before


def test_recorded_fingerprint_needs_no_decoder(tmp_path):
    """`vision.reader: auto` is read from what the run recorded, else the first
    installed reader; a named reader is itself."""
    import json

    from video_pipeline.data.video_reader import PREFERENCE
    from video_pipeline.runner.state import AUTO_READERS, recorded_fingerprint, state_path

    assert AUTO_READERS == PREFERENCE
    cfg = load_config(SEED, overrides=[f"data.output_jsonl={tmp_path / 'o.jsonl'}"])
    assert recorded_fingerprint(cfg) == fingerprint(cfg)  # nothing recorded: as resolved here
    other = next(r for r in AUTO_READERS if r != resolve_reader("auto"))
    state_path(cfg).write_text(json.dumps({"fingerprint": fingerprint(cfg, other)}))
    assert recorded_fingerprint(cfg) == fingerprint(cfg, other) != fingerprint(cfg)
    named = load_config(SEED, overrides=["vision.reader=decord"])
    assert recorded_fingerprint(named) == fingerprint(named)
