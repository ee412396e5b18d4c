"""Every family end to end with the real engine: the prompt tokens vLLM counted for each
record equal the HF processor's count of the same decoded video, and the pipeline's.

One run per family (module-scoped) over videos chosen to vary what the count depends
on: frame sizes and aspect, source fps, durations whose timestamps pass 10 seconds, a
clip of a longer video. Qwen2.5-VL's records get the same check in tests/e2e (its
count has no timestamps, so the generated videos there vary it enough). GLM-4.1V runs
with `tensor_parallel_size: 2` (two engine workers in processes of their own).
LLaVA-OneVision runs its engine core in a process of its own, spawned by vLLM as on
GPUs, where the project's vLLM plugin (engine/vllm_fixes.py) must fix vLLM's model
class: its videos of different frame counts stop the engine without it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import (
    demo_config,
    processor_counts,
    read_jsonl,
    run_cli,
    vision_for,
    write_config,
)
from video_pipeline.config import load_config
from video_pipeline.fixtures.videos import make_video, write_input_jsonl
from video_pipeline.models import resolve_profile

pytestmark = pytest.mark.e2e

FAMILIES = ["qwen2_vl", "qwen3_vl", "qwen3_vl_moe", "llava_onevision", "glm4v", "internvl"]
TENSOR_PARALLEL = {"glm4v": 2}
ENGINE_PROCESS = {"llava_onevision"}


def plugin_env(folder: Path) -> dict[str, str]:
    """The project's `vllm.general_plugins` entry point made visible to vLLM's processes
    (as `pip install -e .` registers it), for an environment installed before it."""
    from tests.helpers import cli_env

    dist = folder / "video_pipeline_fixes-0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: video-pipeline-fixes\n")
    (dist / "entry_points.txt").write_text(
        "[vllm.general_plugins]\nvideo_pipeline_fixes = video_pipeline.engine.vllm_fixes:register\n"
    )
    path = f"{cli_env()['PYTHONPATH']}{os.pathsep}{folder}"
    return {"PYTHONPATH": path, "VLLM_ENABLE_V1_MULTIPROCESSING": "1"}


VIDEOS = [  # seconds, fps, width, height
    (2.0, 8, 64, 48),
    (12.0, 10, 96, 64),
    (3.0, 24, 48, 80),
    (5.0, 15, 112, 32),
]


@pytest.fixture(scope="module")
def varied_input(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("varied")
    videos = [
        make_video(d / f"v{i}.mp4", seconds=s, fps=fps, width=w, height=h, seed=i)
        for i, (s, fps, w, h) in enumerate(VIDEOS)
    ]
    rows = write_input_jsonl(d / "in.jsonl", videos)
    clip = write_input_jsonl(
        d / "clip.jsonl", [videos[1]], extra_fields={"video_start": 1.5, "video_end": 9.0}
    )
    rows.write_text(rows.read_text() + clip.read_text())
    return rows


@pytest.fixture(scope="module", params=FAMILIES)
def run(request, tiny_models, varied_input, tmp_path_factory):
    family = request.param
    model = tiny_models(family)
    d = tmp_path_factory.mktemp(family)
    out = d / "out" / "res.jsonl"
    raw = demo_config(
        model,
        varied_input,
        out,
        vision={**vision_for(model, total_units=48, min_units=2), "fps": 2},
        sampling={"max_tokens": 4},
        vllm={"tensor_parallel_size": TENSOR_PARALLEL.get(family, 1)},
    )
    cfg_path = write_config(d / "c.yaml", raw)
    env = plugin_env(d / "plugin") if family in ENGINE_PROCESS else None
    args = ("--config", str(cfg_path), "--nproc", "1", "--merge")
    run_cli("video_pipeline.cli.launch", *args, env=env)
    return family, model, load_config(data=raw), read_jsonl(out)


def test_every_record_counts_what_the_processor_counts(run):
    family, model, cfg, records = run
    assert resolve_profile(str(model)).name == family
    assert len(records) == len(VIDEOS) + 1 and {r["status"] for r in records} == {"ok"}
    assert len({r["__key"] for r in records}) == len(records)  # each input exactly once
    counts = processor_counts(cfg)
    for r in records:
        hf, ours = counts[r["__key"]]
        assert r["tokens"]["prompt"] == hf == ours, r["__key"]  # vLLM, HF, the pipeline
    assert len({hf for hf, _ in counts.values()}) == len(counts)  # the videos cost differently
