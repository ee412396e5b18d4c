"""The pipeline's token count equals the HF processor's, for every family (no engine).

vLLM runs the model's HF processor on each request, and for Qwen3-VL builds the same
ids itself (the e2e test compares with vLLM's own counts); here the count is checked
against the processor's `input_ids` for frames and metadata of many shapes, timings and
frame counts, as sent (`do_resize: False`) and when the processor resizes again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers import hf_metadata
from video_pipeline.config.schema import VisionConfig
from video_pipeline.data.registry import get_dataset_class
from video_pipeline.data.samples import SampleSource
from video_pipeline.data.video_reader import install_reader
from video_pipeline.fixtures.videos import make_video, write_input_jsonl
from video_pipeline.io.jsonl import InputIndex
from video_pipeline.models import resolve_profile
from video_pipeline.runner.budget import TokenBudget
from video_pipeline.tasks.registry import get_task_class

FAMILIES = [
    "qwen2_vl",
    "qwen2_5_vl",
    "qwen3_vl",
    "qwen3_vl_moe",
    "llava_onevision",
    "glm4v",
    "internvl",
]
TIMESTAMPED = ("qwen3_vl", "qwen3_vl_moe", "glm4v")  # no count without metadata


@pytest.fixture(scope="module", params=FAMILIES)
def family(request, tiny_models):
    from transformers import AutoProcessor

    model = tiny_models(request.param)
    return request.param, AutoProcessor.from_pretrained(model), resolve_profile(str(model))


def _prompt(processor) -> str:
    messages = [
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Describe."}]}
    ]
    return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _meta(n: int, fps: float, step: int, start: int = 0) -> dict:
    indices = [start + i * step for i in range(n)]
    return {"fps": fps, "frames_indices": indices, "total_num_frames": indices[-1] + 1}


def _resizes(profile) -> bool:
    """Whether the family's processor resizes frames (LLaVA-OV, InternVL: to one side)."""
    return profile.mm_processor_kwargs.get("do_resize", True) is not False


def _hf_tokens(processor, prompt: str, frames, meta: dict, resize: bool) -> int:
    kwargs = {} if resize else {"do_resize": False}
    out = processor(
        text=[prompt],
        videos=[frames],
        video_metadata=[hf_metadata(meta)],
        do_sample_frames=False,
        return_tensors="pt",
        **kwargs,
    )
    return int(out["input_ids"].shape[1])


# (frames, height, width) of decoded videos in units of the pixel factor, with source
# fps and frame step: short and long, odd frame counts, timestamps past 10 and 100 s,
# and fps whose mid-times round at .x5.
CASES = [
    (2, 2, 2, 8.0, 4),
    (4, 2, 3, 8.0, 5),
    (5, 3, 2, 25.0, 12),
    (6, 1, 7, 15.005, 7),
    (16, 2, 2, 29.97, 15),
    (40, 1, 1, 30.0, 90),
    (8, 4, 4, 24.0, 321),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:3])))
def test_count_equals_the_processor_for_frames_as_sent(family, case):
    name, processor, profile = family
    t, h, w, fps, step = case
    f = profile.pixel_factor
    frames = torch.randint(0, 255, (t, 3, h * f, w * f), dtype=torch.uint8)
    meta = _meta(t, fps, step)
    prompt = _prompt(processor)
    llm_input = {
        "prompt": prompt,
        "multi_modal_data": {"video": [(frames, meta)]},
        "mm_processor_kwargs": {"do_sample_frames": False, **profile.mm_processor_kwargs},
    }
    n = TokenBudget(processor, None).count(llm_input)
    assert n.total == _hf_tokens(processor, prompt, frames, meta, resize=_resizes(profile))
    if name in TIMESTAMPED:  # timestamps and per-frame markers come on top
        grid_t, per_group = profile.grid(t, h * f, w * f)
        assert n.video > grid_t * per_group


SHAPES = [(2, 3, 56, 56), (4, 3, 64, 64), (120, 3, 56, 84), (8, 3, 196, 252), (6, 3, 32, 1400)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_count_follows_the_processor_when_it_resizes(family, shape):
    _name, processor, _profile = family
    frames = torch.randint(0, 255, shape, dtype=torch.uint8)
    meta = _meta(shape[0], 10.0, 3)
    prompt = _prompt(processor)
    llm_input = {"prompt": prompt, "multi_modal_data": {"video": [(frames, meta)]}}
    n = TokenBudget(processor, None).count(llm_input)
    assert n.total == _hf_tokens(processor, prompt, frames, meta, resize=True)


def test_decoded_videos_count_as_the_processor_sees_them(family, tmp_path: Path):
    """The dataset's own output (frames sized by qwen_vl_utils in the family's factor,
    its metadata, clip bounds) counted, against the processor on the same input."""
    _name, processor, profile = family
    install_reader("auto")
    videos = [
        make_video(tmp_path / "a.mp4", seconds=3.0, fps=10, width=80, height=48, seed=1),
        make_video(tmp_path / "b.mp4", seconds=1.5, fps=24, width=48, height=96, seed=2),
    ]
    rows = write_input_jsonl(
        tmp_path / "in.jsonl", videos, extra_fields={"video_start": 0.2, "video_end": 1.4}
    )
    index = InputIndex.build(rows, "path", None)
    samples = SampleSource(index, list(range(len(index))), "path", None)
    unit = profile.pixel_unit
    vision = VisionConfig(total_pixels=48 * unit, min_pixels=2 * unit, fps=4)
    ds = get_dataset_class("qwen_video")(
        samples, get_task_class("describe")(), processor, vision, {}
    )
    budget = TokenBudget(processor, None, profile)
    for i in range(len(ds)):
        item = ds[i]
        llm = item["llm_input"]
        frames, meta = llm["multi_modal_data"]["video"][0]
        assert frames.shape[-1] % profile.pixel_factor == 0
        assert frames.shape[-2] % profile.pixel_factor == 0
        assert (llm["mm_processor_kwargs"].get("do_resize") is not False) == _resizes(profile)
        expected = _hf_tokens(processor, llm["prompt"], frames, meta, _resizes(profile))
        assert budget.count(llm).total == expected


def test_a_video_without_metadata_has_no_count_for_timestamped_families(family):
    name, processor, profile = family
    frames = torch.zeros((4, 3, profile.pixel_factor, profile.pixel_factor), dtype=torch.uint8)
    llm_input = {"prompt": _prompt(processor), "multi_modal_data": {"video": [frames]}}
    n = TokenBudget(processor, None).measure(llm_input)
    assert (n is None) == (name in TIMESTAMPED)  # vLLM refuses it too


def test_frame_folders_count_as_the_processor_sees_them(family, tmp_path: Path):
    """A video given as images (the `frames` dataset): qwen_vl_utils makes up its
    metadata (indices 0..n-1 at `frames_fps`), which Qwen3-VL's timestamps come from."""
    import json

    import numpy as np
    from PIL import Image

    _name, processor, profile = family
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(7):
        Image.fromarray(rng.integers(0, 255, (60, 90, 3), dtype=np.uint8)).save(
            folder / f"{i:04d}.png"
        )
    rows = tmp_path / "in.jsonl"
    rows.write_text(json.dumps({"path": str(folder)}) + "\n")
    index = InputIndex.build(rows, "path", None)
    samples = SampleSource(index, [0], "path", None)
    unit = profile.pixel_unit
    vision = VisionConfig(total_pixels=64 * unit, min_pixels=4 * unit)
    ds = get_dataset_class("frames")(
        samples, get_task_class("describe")(), processor, vision, {"frames_fps": 3.0}
    )
    llm = ds[0]["llm_input"]
    frames, meta = llm["multi_modal_data"]["video"][0]
    assert frames.shape[0] == 8 and frames.shape[-1] % profile.pixel_factor == 0  # padded
    expected = _hf_tokens(processor, llm["prompt"], frames, meta, _resizes(profile))
    assert TokenBudget(processor, None).count(llm).total == expected


def test_counts_the_profiles_refuse() -> None:
    """Tiled images and timestamped videos without metadata have no count of ours."""
    from video_pipeline.models.glm4v import GLM4V
    from video_pipeline.models.internvl import INTERNVL
    from video_pipeline.models.llava_onevision import LLAVA_ONEVISION
    from video_pipeline.models.qwen import QWEN2_5_VL, QWEN3_VL

    for tiled in (INTERNVL, LLAVA_ONEVISION):
        with pytest.raises(ValueError, match="counted by the engine"):
            tiled.image_tokens(448, 448)
    assert QWEN2_5_VL.image_tokens(56, 56) == 4
    for stamped in (QWEN3_VL, GLM4V):
        with pytest.raises(ValueError, match="fps and frames_indices"):
            stamped.video_tokens((4, 3, 64, 64), {"fps": 2.0}, len)
