"""Config: the seed's YAML loads as is; every bad value names its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import REPO
from video_pipeline.config import ConfigError, load_config

SEED = REPO / "configs" / "describe.yaml"


def test_seed_config_loads_unchanged():
    cfg = load_config(SEED)
    assert cfg.data.video_field == "path"
    assert cfg.data.id_field is None
    assert cfg.vision.total_pixels == 16056320
    assert cfg.vision.fps == 2.0
    assert cfg.vllm.tensor_parallel_size == 1
    assert cfg.vllm.limit_mm_per_prompt == {"video": 1}
    assert cfg.vllm.trust_remote_code is False  # no built-in family runs code from the hub
    assert cfg.run.task == "describe"
    assert cfg.run.fsync_every == 10
    assert cfg.task_params == {"dataset": {}}


def test_trust_remote_code_defaults_to_false(tmp_path: Path):
    cfg = load_config(
        data={"data": {"input_jsonl": "a.jsonl", "output_jsonl": "o.jsonl"}, "vllm": {"model": "m"}}
    )
    assert cfg.vllm.trust_remote_code is False


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("vision.fps=0", "vision.fps must be > 0, got 0"),
        ("vision.fps=-1", "vision.fps must be > 0"),
        (
            "vision.min_pixels=99999999",
            "vision.min_pixels (99999999) must be <= vision.total_pixels",
        ),
        ("vllm.tensor_parallel_size=0", "vllm.tensor_parallel_size must be >= 1"),
        (
            "run.task=nope",
            # the built-ins (others, registered by tests in the same process, may follow)
            "run.task: unknown task 'nope'; available: clip_summary, describe",
        ),
        ("run.task=describ", "Did you mean 'describe'"),
        ("data.bogus=1", "data.bogus is not a known key"),
        ("run.batch_size=two", "run.batch_size must be an integer, got 'two'"),
        ("run.batch_size=0", "run.batch_size must be >= 1, got 0"),
        ("data.resume=maybe", "data.resume must be true or false"),
        ("vllm.gpu_memory_utilization=1.5", "vllm.gpu_memory_utilization must be in (0, 1]"),
        ("sampling.top_p=0", "sampling.top_p must be in (0, 1]"),
        ("vision.reader=ffmpeg", "vision.reader must be one of auto, torchcodec, decord"),
        ("vision.reader=torchvision", "must be one of auto, torchcodec, decord, got 'torchvision'"),
        ("vision.nframes=8", "vision.fps and vision.nframes are exclusive"),
        ("vision.resize=lanczos", "vision.resize must be one of exact, fast"),
        ("vision.decode_device=tpu", "vision.decode_device must be one of cpu, cuda"),
        ("task_params.prompt=3", "task_params.prompt must be a string"),
        ("task_params.colour=red", "task_params.colour is not a parameter of task 'describe'"),
        ("bogus.x=1", "unknown section 'bogus'"),
        # engine layouts that would join the ranks' engines into one, or span more GPUs
        (
            "vllm.engine_kwargs.distributed_executor_backend=external_launcher",
            "vllm.engine_kwargs.distributed_executor_backend must not be external_launcher",
        ),
        (
            "vllm.engine_kwargs.data_parallel_size=2",
            "vllm.engine_kwargs.data_parallel_size must be 1 (each rank runs its own engine",
        ),
        ("vllm.engine_kwargs.data_parallel_rank=0", "data_parallel_rank must not be set"),
        ("vllm.engine_kwargs.pipeline_parallel_size=2", "pipeline_parallel_size must be 1"),
        ("vllm.engine_kwargs.nnodes=2", "vllm.engine_kwargs.nnodes must be 1"),
        (
            "vllm.engine_kwargs.tensor_parallel_size=2",
            "vllm.tensor_parallel_size: set that instead), got 2",
        ),
    ],
)
def test_bad_values_name_the_key(override: str, expected: str):
    with pytest.raises(ConfigError) as err:
        load_config(SEED, overrides=[override])
    assert expected in str(err.value)


def test_cuda_decode_needs_torchcodec():
    with pytest.raises(ConfigError) as err:
        load_config(SEED, overrides=["vision.decode_device=cuda", "vision.reader=decord"])
    assert "vision.decode_device: cuda needs vision.reader torchcodec" in str(err.value)


def test_all_problems_reported_at_once():
    with pytest.raises(ConfigError) as err:
        load_config(SEED, overrides=["vision.fps=0", "run.log_every=0", "data.nope=1"])
    assert len(err.value.problems) == 3


def test_missing_required_keys(tmp_path: Path):
    p = tmp_path / "c.yaml"
    p.write_text("data: {}\nvllm: {}\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    msg = str(err.value)
    for key in (
        "data.input_jsonl is required",
        "data.output_jsonl is required",
        "vllm.model is required",
    ):
        assert key in msg


def test_safe_load_only(tmp_path: Path):
    p = tmp_path / "c.yaml"
    p.write_text("data: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)


def test_structured_caption_params_checked():
    with pytest.raises(ConfigError, match=r"task_params.fields has unknown field\(s\) \['mood'\]"):
        load_config(SEED, overrides=["run.task=structured_caption", "task_params.fields=[mood]"])
