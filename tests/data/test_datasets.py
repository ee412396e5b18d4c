"""Datasets through the real qwen_vl_utils, video readers and the tiny model's processor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from video_pipeline.config.schema import VisionConfig
from video_pipeline.data.registry import get_dataset_class
from video_pipeline.data.samples import SampleSource
from video_pipeline.data.video_reader import install_reader
from video_pipeline.fixtures.videos import make_video, write_input_jsonl
from video_pipeline.io.jsonl import InputIndex
from video_pipeline.tasks.registry import get_task_class


@pytest.fixture(scope="module")
def processor(tiny_model: Path):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_model)


def make_dataset(jsonl: Path, processor, name="qwen_video", task="describe", **vision):
    index = InputIndex.build(jsonl, "path", None)
    samples = SampleSource(index, np.arange(len(index)), "path", None)
    vcfg = VisionConfig(**{"total_pixels": 50176, "min_pixels": 3136, **vision})
    return get_dataset_class(name)(samples, get_task_class(task)(), processor, vcfg, {})


def test_contract_on_generated_videos(tmp_path: Path, video_dir: Path, processor):
    install_reader("auto")
    jsonl = write_input_jsonl(tmp_path / "in.jsonl", sorted(video_dir.glob("*.mp4"))[:2])
    ds = make_dataset(jsonl, processor)
    item = ds[0]
    assert set(item) >= {"__key", "raw", "llm_input"}
    assert item["__key"] == item["raw"]["path"]
    llm = item["llm_input"]
    assert set(llm) == {"prompt", "multi_modal_data", "mm_processor_kwargs"}
    assert "<|video_pad|>" in llm["prompt"]
    assert llm["prompt"].index("<|vision_start|>") < llm["prompt"].index("Describe")
    frames, meta = llm["multi_modal_data"]["video"][0]
    assert frames.ndim == 4 and frames.shape[1] == 3
    assert meta["total_num_frames"] == 16 and "fps" in meta
    assert llm["mm_processor_kwargs"] == {"do_sample_frames": False, "do_resize": False}


def test_vision_settings_and_clip_bounds_flow(tmp_path: Path, video_dir: Path, processor):
    install_reader("auto")
    video = sorted(video_dir.glob("*.mp4"))[0]  # 2 s at 8 fps
    full = write_input_jsonl(tmp_path / "a.jsonl", [video])
    clip = write_input_jsonl(
        tmp_path / "b.jsonl", [video], extra_fields={"video_start": 0.0, "video_end": 1.0}
    )

    def nframes(ds):
        return ds[0]["llm_input"]["multi_modal_data"]["video"][0][0].shape[0]

    assert nframes(make_dataset(full, processor, fps=2.0)) == 4
    assert nframes(make_dataset(full, processor, fps=4.0)) == 8
    assert nframes(make_dataset(full, processor, fps=None, nframes=6)) == 6
    assert nframes(make_dataset(clip, processor, fps=4.0)) < 8
    large = write_input_jsonl(
        tmp_path / "c.jsonl", [make_video(tmp_path / "l.mp4", width=320, height=240)]
    )
    small = make_dataset(large, processor, total_pixels=3136 * 8, min_pixels=3136)
    big = make_dataset(large, processor, total_pixels=200704)
    h_small = small[0]["llm_input"]["multi_modal_data"]["video"][0][0].shape[-1]
    h_big = big[0]["llm_input"]["multi_modal_data"]["video"][0][0].shape[-1]
    assert h_small < h_big


def test_paths_relative_uri_and_errors(tmp_path: Path, processor):
    install_reader("auto")
    (tmp_path / "sub").mkdir()
    make_video(tmp_path / "sub" / "clip one.mp4")
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text(
        '{"path": "sub/clip one.mp4"}\n'
        f'{{"path": "file://{tmp_path}/sub/clip one.mp4", "id": 2}}\n'
        '{"path": "missing.mp4"}\n'
        '{"path": 42}\n'
        "{broken json\n"
        '{"video": "elsewhere.mp4"}\n'
    )
    ds = make_dataset(jsonl, processor)
    items = [ds[i] for i in range(len(ds))]
    assert "llm_input" in items[0] and "llm_input" in items[1]
    assert items[0]["__key"] == "sub/clip one.mp4"  # the key is the path as written
    kinds = [it.get("error", {}).get("kind") for it in items[2:]]
    assert kinds == ["video_not_found", "missing_video", "bad_row", "missing_video"]
    assert items[4]["__key"] == "line:5"
    assert all(it["error"]["message"] for it in items[2:])


def test_corrupt_video_is_an_error_item_not_a_crash(tmp_path: Path, processor):
    install_reader("auto")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00garbage" * 100)
    ds = make_dataset(write_input_jsonl(tmp_path / "in.jsonl", [bad]), processor)
    item = ds[0]
    assert item["error"]["kind"] == "decode_error"
    assert "torchvision" not in item["error"]["message"].split(":")[0]  # no silent fallback


def test_frames_dataset_folder_and_list(tmp_path: Path, processor):
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        arr = rng.integers(0, 255, (56, 84, 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / f"{i:04d}.png")
    jsonl = tmp_path / "in.jsonl"
    listed = [str(p) for p in sorted(folder.glob("*.png"))[:4]]
    import json

    jsonl.write_text(
        json.dumps({"path": str(folder)})
        + "\n"
        + json.dumps({"path": listed})
        + "\n"
        + json.dumps({"path": str(tmp_path / "nope")})
        + "\n"
    )
    ds = make_dataset(jsonl, processor, name="frames")
    a, b, c = ds[0], ds[1], ds[2]
    assert a["llm_input"]["multi_modal_data"]["video"][0][0].shape[0] == 6
    assert b["llm_input"]["multi_modal_data"]["video"][0][0].shape[0] == 4
    assert c["error"]["kind"] == "video_not_found"


@pytest.mark.parametrize("reader", ["torchcodec", "decord"])
def test_each_reader_checks_at_startup(reader: str):
    assert install_reader(reader) == reader
