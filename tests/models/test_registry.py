"""Which family a model folder is, from its config.json; plugins; unsupported models."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.helpers import demo_config, run_cli, write_config
from video_pipeline.config import ConfigError, load_config
from video_pipeline.models import (
    ModelProfile,
    UnsupportedModelError,
    family_for_config,
    get_model_family,
    register_model_family,
    resolve_profile,
)
from video_pipeline.registry import RegistryError
from video_pipeline.runner.checks import check_model

PLUGIN = "tests.models.plugin_family"
EXPECTED = {  # family: (patch, pixel factor)
    "qwen2_vl": (14, 28),
    "qwen2_5_vl": (14, 28),
    "qwen3_vl": (16, 32),
    "qwen3_vl_moe": (16, 32),
    "llava_onevision": (14, 28),
    "glm4v": (14, 28),
    "internvl": (14, 28),
}
# Families whose processor resizes each frame to one side itself (frames go as decoded).
RESIZED_BY_PROCESSOR = {"llava_onevision": 112, "internvl": 112}  # the tiny models' side


@pytest.mark.parametrize("family", sorted(EXPECTED))
def test_each_tiny_checkpoint_resolves_to_its_family(tiny_models, family):
    profile = resolve_profile(str(tiny_models(family)))
    assert profile.name == family
    assert (profile.patch_size, profile.pixel_factor) == EXPECTED[family]
    if family in RESIZED_BY_PROCESSOR:
        assert profile.mm_processor_kwargs == {}
        assert profile.frame_side == RESIZED_BY_PROCESSOR[family]
    else:
        assert profile.mm_processor_kwargs == {"do_resize": False}


def test_non_qwen_families_read_their_sizes_from_config_json():
    """The published checkpoints' config.json fields (abridged) give each family its
    per-frame token count: 196 for LLaVA-OV at 384, 256 for InternVL3.5 at 448."""
    llava = family_for_config(
        {
            "architectures": ["LlavaOnevisionForConditionalGeneration"],
            "model_type": "llava_onevision",
            "vision_config": {"image_size": 384, "patch_size": 14},
        }
    )
    assert (llava.name, llava.frame_tokens) == ("llava_onevision", 196)
    intern = family_for_config(
        {
            "architectures": ["InternVLForConditionalGeneration"],
            "model_type": "internvl",
            "downsample_ratio": 0.5,
            "vision_config": {"image_size": [448, 448], "patch_size": [14, 14]},
        }
    )
    assert (intern.name, intern.frame_side, intern.frame_tokens, intern.patch_size) == (
        "internvl",
        448,
        256,
        14,
    )
    glm = family_for_config(
        {
            "architectures": ["Glm4vForConditionalGeneration"],
            "model_type": "glm4v",
            "vision_config": {"patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
        }
    )
    assert (glm.name, glm.pixel_factor) == ("glm4v", 28)
    # InternVL's original format needs the hub's remote code: not served
    with pytest.raises(UnsupportedModelError, match=r"InternVL3\.5 \(InternVLForConditional"):
        family_for_config({"architectures": ["InternVLChatModel"], "model_type": "internvl_chat"})


def test_architecture_first_then_model_type_then_checkpoint_geometry():
    by_type = family_for_config({"architectures": ["Custom"], "model_type": "qwen3_vl"})
    assert by_type.name == "qwen3_vl"
    odd = family_for_config(
        {
            "architectures": ["Qwen2_5_VLForConditionalGeneration"],
            "model_type": "qwen3_vl",  # the architecture wins
            "vision_config": {"patch_size": 16, "spatial_merge_size": 2},
        }
    )
    assert (odd.name, odd.patch_size, odd.pixel_factor) == ("qwen2_5_vl", 16, 32)
    assert get_model_family("qwen2_5_vl").patch_size == 14  # the registered one is intact


def _fake_model(folder: Path, arch: str, model_type: str) -> Path:
    folder.mkdir(parents=True)
    config = {"architectures": [arch], "model_type": model_type}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_an_unsupported_architecture_is_named_with_the_supported_ones(tmp_path):
    model = _fake_model(tmp_path / "llava", "LlavaForConditionalGeneration", "llava")
    with pytest.raises(UnsupportedModelError) as err:
        resolve_profile(str(model))
    text = str(err.value)
    assert "LlavaForConditionalGeneration (model_type 'llava')" in text
    for name in (
        "Qwen2-VL",
        "Qwen2.5-VL",
        "Qwen3-VL",
        "Qwen3-VL-MoE",
        "LLaVA-OneVision",
        "GLM-4.1V",
        "InternVL3.5",
    ):
        assert f"{name} (" in text
    assert "Qwen3VLMoeForConditionalGeneration" in text and "register_model_family" in text


def test_launch_and_preflight_stop_before_any_model_loads(tmp_path, input_jsonl):
    model = _fake_model(tmp_path / "llava", "LlavaForConditionalGeneration", "llava")
    out = tmp_path / "out" / "res.jsonl"
    cfg = write_config(tmp_path / "c.yaml", demo_config(model, input_jsonl, out))
    launch = ("video_pipeline.cli.launch", "--config", str(cfg), "--nproc", "1")
    preflight = ("video_pipeline.cli.preflight", "--config", str(cfg))
    for module, *args in (launch, preflight):
        proc = run_cli(module, *args, check=False)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert "vllm.model:" in proc.stderr and "LlavaForConditionalGeneration" in proc.stderr
        assert "supported: GLM-4.1V" in proc.stderr and "Qwen2-VL (Qwen2VL" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert "fingerprint" not in proc.stderr  # stopped before preparing any output
    assert not list(out.parent.glob("*.rank*"))  # no rank ever started


def test_a_plugin_registers_a_family(tmp_path, input_jsonl):
    model = _fake_model(tmp_path / "toy", "ToyVLForConditionalGeneration", "toy_vl")
    raw = demo_config(model, input_jsonl, tmp_path / "o.jsonl", vision={"min_pixels": 256})
    cfg = load_config(data=raw)
    with pytest.raises(ConfigError, match="ToyVLForConditionalGeneration"):
        check_model(cfg)  # without the plugin, nobody serves it
    raw["run"]["plugins"] = [PLUGIN]
    profile = check_model(load_config(data=raw))
    assert (profile.name, profile.pixel_factor, profile.pixel_unit) == ("toy_vl", 16, 256)
    assert profile.recommended_vision() == {"total_pixels": 1024 * 256, "min_pixels": 1024}


def test_registration_refuses_duplicates_and_non_profiles():
    import tests.models.plugin_family as plugin

    register_model_family(plugin.TOY_VL)  # the same profile again is harmless
    clash = ModelProfile(
        name="other_qwen",
        label="Other",
        architectures=("Qwen3VLForConditionalGeneration",),
        patch_size=16,
    )
    with pytest.raises(RegistryError, match="already served by 'qwen3_vl'"):
        register_model_family(clash)
    with pytest.raises(RegistryError, match="needs a ModelProfile"):
        register_model_family({"name": "dict"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="patch_size must be a positive integer"):
        ModelProfile(name="bad", label="Bad", architectures=("X",), patch_size=0)


def test_vision_is_checked_in_the_family_units(tiny_models, tmp_path, caplog):
    seed_vision = {"total_pixels": 16056320, "min_pixels": 12544}  # 20480*28*28, 16*28*28
    q25, q3 = tiny_models("qwen2_5_vl"), tiny_models("qwen3_vl")
    inp = tmp_path / "in.jsonl"
    inp.write_text("")

    def check(model, vision):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="video_pipeline"):
            return check_model(load_config(data=demo_config(model, inp, inp, vision=vision)))

    assert check(q25, seed_vision).name == "qwen2_5_vl" and not caplog.records
    # The seed's Qwen2.5-VL budgets still run a Qwen3-VL model, with a hint on units.
    assert check(q3, seed_vision).name == "qwen3_vl"
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "vision.min_pixels=12544 is 12.25 x 32*32" in warning
    assert "use a multiple of 1024" in warning and "16*28*28" in warning and "16384" in warning
    assert check(q3, {"total_pixels": 20971520, "min_pixels": 16384}) and not caplog.records
    with pytest.raises(ConfigError) as err:
        check(q3, {"min_pixels": 1000, "total_pixels": 2**24})
    msg = str(err.value)
    assert "vision.min_pixels must be at least one Qwen3-VL pixel unit (32*32=1024)" in msg
    assert "got 1000; use a multiple of 1024 (recommended: 16384 = 16*32*32)" in msg


def test_llava_onevision_with_tensor_parallel_workers_is_refused(tiny_models, tmp_path):
    """vLLM's fix for LLaVA-OneVision is applied in the rank's process; without the
    project's vLLM plugin installed, tensor-parallel workers are spawned without it, so
    the setting stops the run, naming the key."""
    from video_pipeline.engine.vllm_fixes import plugin_installed

    if plugin_installed():
        pytest.skip("the plugin is installed: the fix reaches vLLM's workers")
    model = tiny_models("llava_onevision")
    inp = tmp_path / "in.jsonl"
    inp.write_text("")
    raw = demo_config(model, inp, tmp_path / "o.jsonl", vllm={"tensor_parallel_size": 2})
    with pytest.raises(ConfigError, match=r"vllm\.tensor_parallel_size: 2 starts workers"):
        check_model(load_config(data=raw))
    raw["vllm"]["tensor_parallel_size"] = 1
    assert check_model(load_config(data=raw)).name == "llava_onevision"
