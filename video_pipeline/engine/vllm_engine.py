"""vLLM's offline engine, driven request by request.

Instead of one blocking `LLM.generate` per batch (which drains the engine between
batches), the runner adds requests as inputs are decoded and steps the engine, so the
scheduler always has a full window of work.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from video_pipeline.config.schema import SamplingConfig, VllmConfig
from video_pipeline.devices import cuda_available
from video_pipeline.engine.base import Finished, RequestRejected
from video_pipeline.errors import describe_exception
from video_pipeline.tasks.base import Task


def engine_env_defaults() -> None:
    """On CPU, run the engine in-process: it starts in seconds instead of a minute."""
    if not cuda_available():
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


def seeded_cpu_kwargs(cfg: VllmConfig, seeded: bool, on_cpu: bool) -> dict[str, Any]:
    """What a CPU engine needs to run seeded sampling: no chunked prefill.

    vLLM's CPU build cannot rewind a request's generator (`set_offset`), which it does
    for a prefill cut into chunks, so a seeded request then stops the whole engine
    ("CPU Generator does not use offset"). Without chunking no prefill is cut; the token
    budget per step must then hold a whole prompt (at least max_model_len).
    `seeded_cpu_problems` rejects settings that contradict this before the model loads.
    """
    if not (seeded and on_cpu) or "enable_chunked_prefill" in cfg.engine_kwargs:
        return {}
    return {"enable_chunked_prefill": False}


def seeded_cpu_problems(cfg: VllmConfig, seeded: bool) -> list[str]:
    """Settings a CPU engine cannot combine with `sampling.seed`, named by key."""
    if not seeded:
        return []
    errs = []
    hint = "or set sampling.seed to null"
    if cfg.engine_kwargs.get("enable_chunked_prefill") is True:
        errs.append(
            "vllm.engine_kwargs.enable_chunked_prefill: true cannot be combined with "
            "sampling.seed on vLLM's CPU build (a chunked prefill rewinds the seeded "
            f"generator, which CPU generators cannot do); remove it {hint}"
        )
    budget = cfg.max_num_batched_tokens or cfg.engine_kwargs.get("max_num_batched_tokens")
    if budget is not None and cfg.max_model_len is not None and budget < cfg.max_model_len:
        errs.append(
            f"vllm.max_num_batched_tokens ({budget}) must be >= vllm.max_model_len "
            f"({cfg.max_model_len}) with sampling.seed on vLLM's CPU build (seeded runs "
            f"turn chunked prefill off, so a step must hold a whole prompt); raise it {hint}"
        )
    return errs


def build_llm(cfg: VllmConfig, seeded: bool = False, render_threads: int = 1) -> Any:
    """The engine; `seeded`: some task sets sampling.seed; `render_threads`: threads that
    render requests (more than one cannot keep vLLM's processor cache in order)."""
    engine_env_defaults()
    try:
        from vllm import LLM
    except ImportError as e:
        raise RuntimeError(
            "vllm is not installed: `pip install -e .[gpu]` on GPUs, "
            "or tools/install-cpu.sh for the CPU build"
        ) from e
    from video_pipeline.engine.vllm_fixes import apply_fixes

    apply_fixes(cfg.model)
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
    kwargs.update(seeded_cpu_kwargs(cfg, seeded, on_cpu=not cuda_available()))
    if render_threads > 1 and "mm_processor_cache_gb" not in cfg.engine_kwargs:
        kwargs["mm_processor_cache_gb"] = 0
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
        # (the renderer's check of the prompt's text says "maximum context length")
        too_long = ("maximum model length", "maximum context length", "encoder cache size")
        kind = "too_many_tokens" if any(t in str(e) for t in too_long) else "engine_error"
        return RequestRejected(kind, msg)
    return RequestRejected("engine_error", f"the model's processor refused the input: {msg}")


def fail_fast_on_dead_core(client: Any) -> None:
    """Make `step()` raise EngineDeadError when the engine's process dies.

    vLLM's sync multiprocess client (0.32) waits on its outputs queue without a timeout.
    When the EngineCore process is killed, its monitor thread marks the engine dead and
    stops the thread that fills that queue, putting nothing in it: a step waiting there
    then waits forever. The guard waits on the same queue, wakes on every put, and
    raises once the engine is dead and nothing is left to read.
    """
    outputs = getattr(client, "outputs_queue", None)
    resources = getattr(client, "resources", None)
    if not isinstance(outputs, queue.Queue) or resources is None:
        return  # in-process engine: its failures raise in the stepping thread
    from vllm.v1.engine.exceptions import EngineDeadError

    get_output = client.get_output

    def guarded() -> Any:
        with outputs.not_empty:  # the queue's own lock: no put is missed between checks
            while not outputs.queue:
                if resources.engine_dead:
                    raise EngineDeadError(suppress_context=True)
                outputs.not_empty.wait(timeout=0.5)
        return get_output()  # this thread alone reads the queue: an item is waiting

    client.get_output = guarded


@dataclass
class Rendered:
    """A request ready to add, with the prompt it was rendered from (to render again)."""

    tokenized: dict[str, Any]
    request: Any


# How the engine ends a request it could not take (vLLM's FinishReason.ERROR as text).
ERROR_FINISH = "error"


class VllmEngine:
    """`Engine` over `LLM.llm_engine`: add requests, step, collect finished ones.

    With the EngineCore in its own process (as on GPUs), a request the core cannot take
    does not raise in `add()`: it comes back from `step()` finished with reason "error"
    and no tokens. The usual cause is a processor-cache miss (the rank's cache holds a
    video as sent with a request the engine never got, so the core has no data for it);
    such a request is rendered again without the cache and sent once more. A second
    error finish becomes an `engine_error` record.
    """

    def __init__(self, llm: Any) -> None:
        self._rejections = _rejection_types()
        self.llm = llm
        self.engine = llm.llm_engine
        fail_fast_on_dead_core(self.engine.engine_core)
        self._in_flight: set[str] = set()
        # request id -> (tokenized prompt, sampling params, sent again already)
        self._sent: dict[str, tuple[dict[str, Any], Any, bool]] = {}
        self.resent = 0  # requests rendered again without the processor cache
        self.max_model_len: int = llm.llm_engine.model_config.max_model_len
        scheduler = getattr(getattr(self.engine, "vllm_config", None), "scheduler_config", None)
        self.max_num_seqs: int | None = getattr(scheduler, "max_num_seqs", None)
        self._tok_params = self.engine.renderer.default_cmpl_tok_params
        self._cache = self.engine.renderer.mm_processor_cache
        self._cache_lock = threading.Lock()
        if self._cache is not None:
            self._serialise_invalidation()

    def _serialise_invalidation(self) -> None:
        """vLLM's step() drops stale entries from the processor cache on the stepping
        thread, while a render thread may be reading or filling that cache ("not safe
        for concurrent access"): both take one lock."""
        invalidate, lock = self._cache.invalidate, self._cache_lock

        def locked(mm_hash: str) -> None:
            with lock:
                invalidate(mm_hash)

        self._cache.invalidate = locked

    def tokenize(self, llm_input: dict[str, Any]) -> dict[str, Any]:
        """vLLM's own tokenization of the prompt (its renderer's first steps)."""
        from vllm.renderers.inputs.preprocess import parse_model_prompt

        r = self.engine.renderer
        parsed = parse_model_prompt(self.engine.model_config, llm_input)
        try:
            (tokenized,) = r.tokenize_prompts(r.render_prompts([parsed]), self._tok_params)
        except self._rejections as e:
            raise classify_rejection(e) from e
        return tokenized

    def render(self, tokenized: dict[str, Any], skip_cache: bool = False) -> Rendered:
        """The model's processor over the frames (normalise, patchify): the request as
        `add_request` takes it, so the stepping thread does not do this work."""
        uses_cache = self._cache is not None and not skip_cache
        try:
            with self._cache_lock if uses_cache else contextlib.nullcontext():
                request = self.engine.renderer.process_for_engine(
                    tokenized, time.time(), skip_mm_cache=skip_cache
                )
        except self._rejections as e:
            raise classify_rejection(e) from e
        return Rendered(tokenized, request)

    def add(self, request_id: str, rendered: Rendered, params: Any) -> None:
        from vllm.multimodal.cache import MultiModalCacheMissError

        resent = False
        try:
            try:
                self.engine.add_request(request_id, rendered.request, params)
            except MultiModalCacheMissError as e:
                # The engine in this process raises the miss here (in its own process it
                # finishes the request with an error instead, see step()).
                for mm_hash in e.mm_hashes:
                    self._cache.invalidate(mm_hash)
                self._resend(request_id, rendered.tokenized, params)
                resent = True
        except self._rejections as e:  # vLLM validates the rendered request here
            raise classify_rejection(e) from e
        self._in_flight.add(request_id)
        self._sent[request_id] = (rendered.tokenized, params, resent)

    def _resend(self, request_id: str, tokenized: dict[str, Any], params: Any) -> None:
        """Render the prompt again without the processor cache, so its data is sent."""
        again = self.render(tokenized, skip_cache=True)
        self.resent += 1
        self.engine.add_request(request_id, again.request, params)

    def step(self) -> list[Finished]:
        done = []
        for out in self.engine.step():
            if not out.finished:
                continue
            comp = out.outputs[0]
            error = None
            if comp.finish_reason == ERROR_FINISH:
                error = self._retry(out.request_id)
                if error is None:
                    continue  # sent again; it finishes in a later step
            self._in_flight.discard(out.request_id)
            self._sent.pop(out.request_id, None)
            done.append(
                Finished(
                    request_id=out.request_id,
                    text=comp.text,
                    prompt_tokens=len(out.prompt_token_ids or []),
                    generated_tokens=len(comp.token_ids),
                    finish_reason=comp.finish_reason,
                    cached_tokens=getattr(out, "num_cached_tokens", 0) or 0,
                    error=error,
                )
            )
        return done

    def _retry(self, request_id: str) -> tuple[str, str] | None:
        """Send an error-finished request once more; None if sent, else why it failed."""
        tokenized, params, resent = self._sent.get(request_id, (None, None, True))
        if resent or tokenized is None:
            return (
                "engine_error",
                "the engine could not take this request (it ended it with an error "
                "before generating; the engine's log says why)",
            )
        try:
            self._resend(request_id, tokenized, params)
        except RequestRejected as e:
            return (e.kind, str(e))
        except self._rejections as e:
            rejected = classify_rejection(e)
            return (rejected.kind, str(rejected))
        self._sent[request_id] = (tokenized, params, True)
        return None

    def cache_stats(self) -> dict[str, int]:
        """The processor cache's lookups and hits, and requests sent again without it."""
        info = self._cache.make_stats() if self._cache is not None else None
        return {
            "queries": info.total if info else 0,
            "hits": info.hits if info else 0,
            "resent": self.resent,
        }

    def in_flight(self) -> int:
        return len(self._in_flight)
