"""vLLM's offline engine, driven request by request.

Instead of one blocking `LLM.generate` per batch (which drains the engine between
batches), the runner adds requests as inputs are decoded and steps the engine, so the
scheduler always has a full window of work.
"""

from __future__ import annotations

import os
from typing import Any

from video_pipeline.config.schema import SamplingConfig, VllmConfig
from video_pipeline.engine.base import Finished, RequestRejected
from video_pipeline.errors import describe_exception
from video_pipeline.tasks.base import Task


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def engine_env_defaults() -> None:
    """On CPU, run the engine in-process: it starts in seconds instead of a minute."""
    if not cuda_available():
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


def build_llm(cfg: VllmConfig) -> Any:
    engine_env_defaults()
    try:
        from vllm import LLM
    except ImportError as e:
        raise RuntimeError(
            "vllm is not installed: `pip install -e .[gpu]` on GPUs, "
            "or tools/install-cpu.sh for the CPU build"
        ) from e
    kwargs: dict[str, Any] = {
        "model": cfg.model,
        "dtype": cfg.dtype,
        "tensor_parallel_size": cfg.tensor_parallel_size,
        "gpu_memory_utilization": cfg.gpu_memory_utilization,
        "enforce_eager": cfg.enforce_eager,
        "limit_mm_per_prompt": dict(cfg.limit_mm_per_prompt),
        "trust_remote_code": cfg.trust_remote_code,
        "seed": cfg.seed,
    }
    for name in (
        "max_model_len",
        "max_num_seqs",
        "max_num_batched_tokens",
        "enable_prefix_caching",
    ):
        if getattr(cfg, name) is not None:
            kwargs[name] = getattr(cfg, name)
    kwargs.update(cfg.engine_kwargs)
    return LLM(**kwargs)


def build_sampling_params(cfg: SamplingConfig, task: Task) -> Any:
    from vllm import SamplingParams

    kwargs: dict[str, Any] = {
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "max_tokens": cfg.max_tokens,
        "repetition_penalty": cfg.repetition_penalty,
        "seed": cfg.seed,
    }
    if cfg.top_k is not None:
        kwargs["top_k"] = cfg.top_k
    if cfg.stop:
        kwargs["stop"] = list(cfg.stop)
    kwargs.update(cfg.extra)
    kwargs.update(task.sampling_overrides())
    schema = task.json_schema()
    if schema is not None:
        from vllm.sampling_params import StructuredOutputsParams

        kwargs["structured_outputs"] = StructuredOutputsParams(json=schema)
    return SamplingParams(**kwargs)


def _rejection_types() -> tuple[type[Exception], ...]:
    """What vLLM raises for one bad request, as opposed to a failing engine."""
    from vllm.exceptions import VLLMValidationError

    # VLLMValidationError: the request is invalid (too long, bad parameters). ValueError:
    # the model's processor refused this request's multimodal input.
    return (VLLMValidationError, ValueError)


def classify_rejection(e: Exception) -> RequestRejected:
    """A per-request error kind for an exception `_rejection_types` matched."""
    from vllm.exceptions import VLLMValidationError

    msg = describe_exception(e)
    if isinstance(e, VLLMValidationError):
        # vLLM gives no subtype for length; its own length checks say so in these words
        too_long = ("maximum model length", "encoder cache size")
        kind = "too_many_tokens" if any(t in str(e) for t in too_long) else "engine_error"
        return RequestRejected(kind, msg)
    return RequestRejected("engine_error", f"the model's processor refused the input: {msg}")


class VllmEngine:
    """`Engine` over `LLM.llm_engine`: add requests, step, collect finished ones."""

    def __init__(self, llm: Any) -> None:
        self._rejections = _rejection_types()
        self.llm = llm
        self.engine = llm.llm_engine
        self._in_flight: set[str] = set()
        self.max_model_len: int = llm.llm_engine.model_config.max_model_len
        scheduler = getattr(getattr(self.engine, "vllm_config", None), "scheduler_config", None)
        self.max_num_seqs: int | None = getattr(scheduler, "max_num_seqs", None)

    def add(self, request_id: str, llm_input: dict[str, Any], params: Any) -> None:
        try:
            self.engine.add_request(request_id, llm_input, params)
        except self._rejections as e:  # vLLM validates length and mm inputs synchronously
            raise classify_rejection(e) from e
        self._in_flight.add(request_id)

    def step(self) -> list[Finished]:
        done = []
        for out in self.engine.step():
            if not out.finished:
                continue
            self._in_flight.discard(out.request_id)
            comp = out.outputs[0]
            done.append(
                Finished(
                    request_id=out.request_id,
                    text=comp.text,
                    prompt_tokens=len(out.prompt_token_ids or []),
                    generated_tokens=len(comp.token_ids),
                    finish_reason=comp.finish_reason,
                    cached_tokens=getattr(out, "num_cached_tokens", 0) or 0,
                )
            )
        return done

    def in_flight(self) -> int:
        return len(self._in_flight)
