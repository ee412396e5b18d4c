"""Omni families: the audio a video adds to its prompt, counted as the HF processor does.

With `use_audio_in_video` the processor (`Qwen2_5OmniProcessor`) replaces the video's
placeholder by the video and audio pads interleaved between `<|audio_bos|>` and
`<|audio_eos|>`; the pipeline's count (token budget, preflight) must equal its
`input_ids`, for the dataset's own decoded frames and audio, clips included, and a
video without an audio track must be counted (and sent) as frames alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import hf_metadata
from video_pipeline.config.schema import VisionConfig
from video_pipeline.data.registry import get_dataset_class
from video_pipeline.data.samples import SampleSource
from video_pipeline.data.video_reader import install_reader
from video_pipeline.fixtures.videos import make_video, write_input_jsonl
from video_pipeline.io.jsonl import InputIndex
from video_pipeline.models import get_model_family, resolve_profile
from video_pipeline.runner.budget import TokenBudget
from video_pipeline.tasks.registry import get_task_class


@pytest.fixture(scope="module", params=["qwen2_5_omni", "qwen3_omni_moe"])
def omni(request, tiny_models):
    from transformers import AutoProcessor

    model = tiny_models(request.param)
    return AutoProcessor.from_pretrained(model), resolve_profile(str(model))


def _hf(processor, llm: dict) -> tuple[int, int]:
    """(prompt tokens, `<|AUDIO|>` tokens) of the HF processor for a dataset's input."""
    mm, kwargs = llm["multi_modal_data"], llm["mm_processor_kwargs"]
    frames, meta = mm["video"][0]
    audio = [a for a, _rate in mm.get("audio") or []]
    out = processor(
        text=[llm["prompt"]],
        videos=[frames],
        video_metadata=[hf_metadata(meta)],
        return_tensors="pt",
        **({"audio": audio} if audio else {}),
        **kwargs,
    )
    ids = out["input_ids"][0].tolist()
    return len(ids), ids.count(processor.tokenizer.convert_tokens_to_ids("<|AUDIO|>"))


def test_the_omni_checkpoints_are_their_families(omni):
    _processor, profile = omni
    patch = {"qwen2_5_omni": 14, "qwen3_omni_moe": 16}[profile.name]
    assert profile.hears and profile.patch_size == patch
    assert not get_model_family("qwen2_5_vl").hears


@pytest.mark.parametrize("seconds", [0.05, 0.5, 1.0, 3.008, 7.3, 29.99, 30.0, 41.5])
def test_audio_tokens_equal_the_processors(omni, seconds):
    """Short and long audio, past Qwen2.5-Omni's 30 s (its processor truncates), in the
    whole hops the dataset sends."""
    processor, profile = omni
    n = profile.whole_hops(int(seconds * 16000) + 7)
    samples = np.random.default_rng(0).standard_normal(n).astype(np.float32) * 0.1
    messages = [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": "?"}]}]
    prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = processor(text=[prompt], audio=[samples], return_tensors="pt")["input_ids"][0]
    pads = ids.tolist().count(processor.tokenizer.convert_tokens_to_ids("<|AUDIO|>"))
    assert profile.audio_tokens(n) == pads


def test_qwen3_omni_audio_tokens_are_vllms():
    """Qwen3-Omni's count is vLLM's own: it pads the audio to whole hops, then counts."""
    import torch
    from vllm.model_executor.models.qwen3_omni_moe_thinker import (
        _get_feat_extract_output_lengths,
    )

    profile = get_model_family("qwen3_omni_moe")
    for n in (1600, 16000, 16001, 48128, 160_000, 16000 * 45 + 33):
        frames = -(-n // 160)
        expected = int(_get_feat_extract_output_lengths(torch.tensor(frames)))
        assert profile.audio_tokens(n) == expected


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("omni_videos")
    return [
        make_video(d / "tone.mp4", seconds=3.0, fps=10, width=80, height=48, seed=1, tone_hz=440),
        make_video(d / "long.mp4", seconds=6.5, fps=8, width=64, height=64, seed=2, tone_hz=660),
        make_video(d / "silent.mp4", seconds=2.0, fps=8, width=48, height=96, seed=3),
    ]


def _dataset(processor, rows: Path, vision: VisionConfig):
    index = InputIndex.build(rows, "path", None)
    samples = SampleSource(index, list(range(len(index))), "path", None)
    return get_dataset_class("qwen_video")(
        samples, get_task_class("describe")(), processor, vision, {}
    )


def test_decoded_audio_counts_as_the_processor_sees_it(omni, videos, tmp_path: Path):
    processor, profile = omni
    install_reader("auto")
    rows = write_input_jsonl(tmp_path / "in.jsonl", videos)
    clip = write_input_jsonl(
        tmp_path / "clip.jsonl", [videos[1]], extra_fields={"video_start": 1.5, "video_end": 4.0}
    )
    rows.write_text(rows.read_text() + clip.read_text())
    unit = profile.pixel_unit
    base = {"total_pixels": 48 * unit, "min_pixels": 2 * unit, "fps": 2}
    hearing = _dataset(processor, rows, VisionConfig(**base, use_audio_in_video=True))
    seeing = _dataset(processor, rows, VisionConfig(**base))
    budget = TokenBudget(processor, None, profile)
    for i, expect_seconds in enumerate([3.0, 6.5, None, 2.5]):
        heard, seen = hearing.prepare(i, [hearing.task]), seeing.prepare(i, [seeing.task])
        assert heard.error is None and seen.error is None
        llm, plain = heard.inputs[0], seen.inputs[0]
        hf_total, hf_audio = _hf(processor, llm)
        n = budget.count(llm)
        assert n.total == hf_total  # the pipeline's count is the processor's
        assert seen.heard_by(0) is None  # a task that does not hear keeps its records' shape
        if expect_seconds is None:  # no audio track: frames alone, nothing to hear
            assert "audio" not in llm["multi_modal_data"]
            assert "use_audio_in_video" not in llm["mm_processor_kwargs"]
            assert heard.heard_by(0).present is False and heard.heard_by(0).tokens == 0
            assert n.total == budget.count(plain).total
            continue
        assert llm["mm_processor_kwargs"]["use_audio_in_video"] is True
        samples, rate = llm["multi_modal_data"]["audio"][0]
        assert rate == 16000 and samples.dtype == np.float32
        assert heard.heard_by(0).present and abs(heard.heard_by(0).seconds - expect_seconds) < 0.05
        # what the audio adds: its pads and the two markers around the interleave
        assert heard.heard_by(0).tokens == n.audio == hf_audio + 2
        assert n.total - budget.count(plain).total == heard.heard_by(0).tokens
        assert _hf(processor, plain)[0] == hf_total - heard.heard_by(0).tokens


def _garbled_audio(src: Path, dst: Path) -> Path:
    """`src` remuxed with its audio packets replaced by random bytes (same sizes and
    times): the video decodes, the audio stream does not."""
    import av

    rng = np.random.default_rng(0)
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        video, audio = inp.streams.video[0], inp.streams.audio[0]
        vout, aout = out.add_stream_from_template(video), out.add_stream_from_template(audio)
        for packet in inp.demux():
            if packet.dts is None:
                continue
            if packet.stream is video:
                packet.stream = vout
            else:
                noise = av.Packet(bytes(rng.integers(0, 256, packet.size, dtype=np.uint8)))
                noise.pts, noise.dts, noise.time_base = packet.pts, packet.dts, packet.time_base
                noise.stream, packet = aout, noise
            out.mux(packet)
    return dst


def test_a_corrupt_audio_stream_fails_its_sample_alone(omni, videos, tmp_path: Path):
    processor, profile = omni
    install_reader("auto")
    bad = _garbled_audio(videos[0], tmp_path / "garbled.mkv")
    rows = write_input_jsonl(tmp_path / "in.jsonl", [bad, videos[1]])
    unit = profile.pixel_unit
    base = {"total_pixels": 32 * unit, "min_pixels": 2 * unit, "fps": 2}
    hearing = _dataset(processor, rows, VisionConfig(**base, use_audio_in_video=True))
    failed, fine = hearing.prepare(0, [hearing.task]), hearing.prepare(1, [hearing.task])
    assert failed.error.kind == "audio_decode_error" and failed.inputs is None
    assert fine.error is None and fine.heard_by(0).present
    seeing = _dataset(processor, rows, VisionConfig(**base))
    assert seeing.prepare(0, [seeing.task]).error is None  # its frames decode


def test_preflight_counts_the_audio(omni, videos, tmp_path: Path):
    """preflight prices a hearing run with its audio tokens: the prompt tokens of each
    video grow by what its audio adds, and the silent one's do not."""
    from tests.helpers import demo_config
    from video_pipeline.config import load_config
    from video_pipeline.preflight import run_preflight

    processor, profile = omni
    model = processor.tokenizer.name_or_path
    rows = write_input_jsonl(tmp_path / "in.jsonl", videos)
    unit = profile.pixel_unit
    reports = []
    for hear in (False, True):
        vision = {"total_pixels": 32 * unit, "min_pixels": 2 * unit, "fps": 2}
        raw = demo_config(Path(model), rows, tmp_path / f"out{hear}.jsonl", vision=vision)
        raw["vision"]["use_audio_in_video"] = hear
        reports.append(run_preflight(load_config(data=raw), processor=processor))
    seen, heard = reports
    assert seen.ok == heard.ok == 3 and seen.audio_tokens == 0
    hearing = _dataset(processor, rows, load_config(data=raw).vision)
    facts = [hearing.prepare(i, [hearing.task]).heard_by(0) for i in range(3)]
    assert heard.audio_tokens == sum(a.tokens for a in facts) and facts[0].tokens > 2
    assert heard.prompt_tokens - seen.prompt_tokens == heard.audio_tokens
    # a transcript on the same model: its windows (2 s here) priced one request each
    raw = demo_config(Path(model), rows, tmp_path / "said.jsonl", task="transcribe", vision=vision)
    raw["task_params"] = {"window_s": 2.0}
    said = run_preflight(load_config(data=raw), processor=processor)
    listening = get_dataset_class("audio")(
        hearing.samples, get_task_class("transcribe")(window_s=2.0), processor, hearing.vision, {}
    )
    budget = TokenBudget(processor, None, profile)
    windows = [w for i in range(3) for w in listening.prepare(i, [listening.task]).inputs[0].inputs]
    assert said.ok == 3 and len(windows) == 2 + 4 + 0  # 3 s and 6.5 s of sound, a silent one
    assert said.audio_tokens == sum(budget.count(w).audio for w in windows) > 0
    assert said.prompt_tokens == sum(budget.count(w).total for w in windows)
    assert said.max_prompt_tokens == max(budget.count(w).total for w in windows)
    assert said.max_generated_tokens == len(windows) * load_config(data=raw).sampling.max_tokens
    assert said.decode is None  # no frames to price
    assert f"{heard.audio_tokens} audio" in heard.summary()


def test_the_interleave_is_vllms_at_the_sampled_rate(omni, tmp_path: Path):
    """At 1 fps (not the 2 fps the processors assume) the HF processor, told the rate
    through the request's kwargs, lays out video and audio pads exactly as vLLM's own
    layout function does with the same kwargs (the order, not only the count)."""
    import importlib

    from transformers import AutoConfig

    processor, profile = omni
    install_reader("auto")
    video = make_video(tmp_path / "v.mp4", seconds=12.0, fps=8, width=64, height=64, tone_hz=440)
    rows = write_input_jsonl(tmp_path / "in.jsonl", [video])
    unit = profile.pixel_unit
    vision = VisionConfig(
        total_pixels=64 * unit, min_pixels=2 * unit, fps=1, use_audio_in_video=True
    )
    llm = _dataset(processor, rows, vision).prepare(0, [get_task_class("describe")()]).inputs[0]
    kwargs = llm["mm_processor_kwargs"]
    assert kwargs["fps"] == 1.0 and kwargs["second_per_grid_ts"] == [2.0]
    mm = llm["multi_modal_data"]
    frames, meta = mm["video"][0]
    out = processor(
        text=[llm["prompt"]],
        videos=[frames],
        video_metadata=[hf_metadata(meta)],
        audio=[mm["audio"][0][0]],
        return_tensors="pt",
        **kwargs,
    )
    ids = out["input_ids"][0].tolist()
    vocab = processor.tokenizer.convert_tokens_to_ids
    hf_span = ids[ids.index(vocab("<|audio_bos|>")) : ids.index(vocab("<|audio_eos|>")) + 1]
    thinker = AutoConfig.from_pretrained(processor.tokenizer.name_or_path).thinker_config
    grid = out["video_grid_thw"][0]
    audio_len = profile.audio_tokens(len(mm["audio"][0][0]))
    if profile.name == "qwen2_5_omni":
        module = importlib.import_module("vllm.model_executor.models.qwen2_5_omni_thinker")
        layout = module.Qwen2_5OmniThinkerMultiModalProcessor.omni_get_updates_use_audio_in_video
        span = layout(thinker, audio_len, grid, kwargs["second_per_grid_ts"][0])
    else:
        module = importlib.import_module("vllm.model_executor.models.qwen3_omni_moe_thinker")
        layout = module.Qwen3OmniMoeThinkerMultiModalProcessor.get_updates_use_audio_in_video
        span = layout(None, thinker, audio_len, grid, float(out["video_second_per_grid"][0]))
    assert span == hf_span
    assert len(set(span[1:-1])) == 2  # both kinds of pads, interleaved in chunks


def test_one_decode_serves_seeing_hearing_and_transcribing(omni, videos, tmp_path: Path):
    """Three tasks on one Omni model over the same videos: frames alone, frames and
    audio, audio alone (a transcript). One decode of the frames and one of the
    soundtrack serve all three, and each input is what that task decoded alone gives."""
    from video_pipeline.data.shared import SharedDecode

    processor, profile = omni
    install_reader("auto")
    rows = write_input_jsonl(tmp_path / "in.jsonl", videos)
    unit = profile.pixel_unit
    base = {"total_pixels": 32 * unit, "min_pixels": 2 * unit, "fps": 2}
    seeing = _dataset(processor, rows, VisionConfig(**base))
    hearing = _dataset(processor, rows, VisionConfig(**base, use_audio_in_video=True))
    index = InputIndex.build(rows, "path", None)
    samples = SampleSource(index, list(range(len(index))), "path", None)
    transcribe = get_task_class("transcribe")(window_s=2.0)
    listening = get_dataset_class("audio")(samples, transcribe, processor, VisionConfig(**base), {})
    datasets = [seeing, hearing, listening]
    shared = SharedDecode(datasets, np.ones((3, 3), dtype=bool))
    assert shared.shared
    budget = TokenBudget(processor, None, profile)
    for i, sound in enumerate([True, True, False]):
        item = shared[i]
        assert item.error is None
        assert item.decodes == (2 if sound else 1)  # frames once, the soundtrack once
        alone = [d.prepare(i, [d.task]) for d in datasets]
        assert sum(a.decodes for a in alone) == (4 if sound else 2)
        seen, heard, parts = item.inputs
        assert seen["multi_modal_data"]["video"] is heard["multi_modal_data"]["video"]
        assert "audio" not in seen["multi_modal_data"]
        assert budget.count(seen).total == budget.count(alone[0].inputs[0]).total
        assert budget.count(heard).total == budget.count(alone[1].inputs[0]).total
        assert item.heard_by(0) is None and item.heard_by(2) is None
        assert item.heard_by(1) == alone[1].heard_by(0)
        assert [m["start"] for m in parts.meta] == [m["start"] for m in alone[2].inputs[0].meta]
        if not sound:
            assert parts.inputs == [] and "audio" not in heard["multi_modal_data"]
            continue
        assert np.array_equal(
            heard["multi_modal_data"]["audio"][0][0],
            alone[1].inputs[0]["multi_modal_data"]["audio"][0][0],
        )
        # a window is a chat prompt with its audio: the HF processor counts its tokens alike
        window = parts.inputs[0]
        ((samples, _rate),) = window["multi_modal_data"]["audio"]
        assert "<|AUDIO|>" in window["prompt"] and len(samples) == 32_000
        ids = processor(text=[window["prompt"]], audio=[samples], return_tensors="pt")
        assert budget.count(window).total == len(ids["input_ids"][0])
