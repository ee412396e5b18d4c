"""The token count matches what the processor inside the engine produces."""

from __future__ import annotations

import pytest
import torch

from video_pipeline.errors import SampleError
from video_pipeline.runner.budget import TokenBudget

SHAPES = [(2, 3, 56, 56), (4, 3, 56, 56), (120, 3, 56, 84), (8, 3, 196, 252), (6, 3, 28, 1400)]


@pytest.mark.parametrize("shape", SHAPES)
def test_video_tokens_match_the_processor(processor, shape):
    video = torch.zeros(shape, dtype=torch.uint8)
    out = processor.video_processor(videos=[video], do_sample_frames=False, return_tensors="pt")
    expected = int(out["video_grid_thw"].prod()) // processor.video_processor.merge_size**2
    assert TokenBudget(processor, None).video_tokens(shape, None, resize=True) == expected


def test_prompt_count_and_limit(processor):
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Hi"}]}],
        tokenize=False,
        add_generation_prompt=True,
    )
    llm_input = {"prompt": prompt, "multi_modal_data": {"video": [torch.zeros(4, 3, 56, 56)]}}
    n = TokenBudget(processor, None).count(llm_input)
    text = len(processor.tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert (n.text, n.video) == (text - 1, 288)  # the processor would upscale 56x56 frames
    as_sized = {**llm_input, "mm_processor_kwargs": {"do_resize": False}}  # what datasets send
    assert TokenBudget(processor, None).count(as_sized).video == 8
    assert TokenBudget(processor, n.total + 1).check(llm_input) == n
    with pytest.raises(SampleError, match=f"{n.total} tokens .*max_model_len is {n.total}"):
        TokenBudget(processor, n.total).check(llm_input)  # vLLM wants room for one token


def test_an_input_it_cannot_count_is_left_to_the_engine(processor):
    assert TokenBudget(processor, 10).check({"something": "else"}) is None


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        # the renderer's check of the prompt's text, before any video is processed
        (
            "This model's maximum context length is 113 tokens. However, your prompt",
            "too_many_tokens",
        ),
        (
            "The decoder prompt (length 117) is longer than the maximum model length of 113.",
            "too_many_tokens",
        ),
        ("temperature must be non-negative", "engine_error"),
    ],
)
def test_the_engine_s_length_rejections_are_too_many_tokens(message, kind):
    from vllm.exceptions import VLLMValidationError

    from video_pipeline.engine.vllm_engine import classify_rejection

    assert classify_rejection(VLLMValidationError(message)).kind == kind
