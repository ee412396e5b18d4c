"""The speed-of-light check: the pipeline against the engine alone, on the config's videos.

One engine serves both runs, in one process:

- `pipeline`: a rank as a run has it (decode workers, render thread, the stepping
  loop), over the sample, journaling to a scratch folder;
- `engine_alone`: the same samples decoded and rendered beforehand (untimed), then all
  added and stepped to the end: the engine's own throughput, the ceiling.

Each half counts its engine steps and the requests in the engine per step, which split
a gap in two: more steps mean the window was not kept full (the feed is too slow),
dearer steps mean something competes with the engine for its device or cores. With
`repeat`, the pairs alternate on one engine and the median pair is reported: on a
shared machine one pair can be off by 10% either way.

Answers have a fixed length (`ignore_eos`, `sampling.max_tokens` tokens) so the two do
the same work, and vLLM's prefix and processor caches are reset between them.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from video_pipeline.config import Config, load_config
from video_pipeline.devices import machine_has_gpu


@dataclass
class Steps:
    """One half's engine steps (as runner.loop.StepMeter counts them)."""

    count: int
    mean_in_flight: float
    wall_s: float
    cpu_s: float


@dataclass
class Pair:
    """One measurement: the pipeline, then the engine alone on the same videos."""

    pipeline_s: float
    engine_alone_s: float
    pipeline_steps: Steps
    engine_alone_steps: Steps

    @property
    def ratio(self) -> float:
        return self.engine_alone_s / self.pipeline_s if self.pipeline_s else 0.0


@dataclass
class Measurement:
    settings: dict[str, Any]
    videos: int
    pairs: list[Pair]  # one per repeat; the figures below are the median pair's
    prompt_tokens: int
    generated_tokens: int
    times: dict[str, float]  # where the pipeline's time went, in the median pair
    decode: dict[str, Any] = field(default_factory=dict)  # the median pair's decode figures

    @property
    def median(self) -> Pair:
        return self.pairs[median_index(self.pairs)]

    @property
    def pipeline_s(self) -> float:
        return self.median.pipeline_s

    @property
    def engine_alone_s(self) -> float:
        return self.median.engine_alone_s

    @property
    def ratio(self) -> float:
        return self.median.ratio

    @property
    def videos_per_s(self) -> float:
        return self.videos / self.pipeline_s if self.pipeline_s else 0.0

    def to_dict(self) -> dict[str, Any]:
        m = self.median
        return {
            "settings": self.settings,
            "videos": self.videos,
            "pipeline_s": round(self.pipeline_s, 3),
            "engine_alone_s": round(self.engine_alone_s, 3),
            "ratio": round(self.ratio, 3),
            "ratios": [round(p.ratio, 3) for p in self.pairs],
            "videos_per_s": round(self.videos_per_s, 3),
            "videos_per_gpu_hour": round(self.videos_per_s * 3600),
            "prompt_tokens_per_s": round(self.prompt_tokens / self.pipeline_s, 1),
            "generated_tokens_per_s": round(self.generated_tokens / self.pipeline_s, 1),
            "times": {k: round(v, 3) for k, v in self.times.items()},
            "decode": self.decode,
            # the gap split: more steps (a starved window) or dearer steps (contention)
            "steps": {
                "pipeline": m.pipeline_steps.count,
                "engine_alone": m.engine_alone_steps.count,
                "pipeline_mean_in_flight": m.pipeline_steps.mean_in_flight,
                "engine_alone_mean_in_flight": m.engine_alone_steps.mean_in_flight,
                "step_ms_pipeline": per_step(m.pipeline_steps.wall_s, m.pipeline_steps),
                "step_ms_engine_alone": per_step(m.engine_alone_steps.wall_s, m.engine_alone_steps),
                # the stepping thread on a core: what is left of a step is waiting
                "step_cpu_ms_pipeline": per_step(m.pipeline_steps.cpu_s, m.pipeline_steps),
                "step_cpu_ms_engine_alone": per_step(
                    m.engine_alone_steps.cpu_s, m.engine_alone_steps
                ),
            },
        }


def per_step(seconds: float, steps: Steps) -> float:
    return round(1000 * seconds / max(1, steps.count), 2)


def sample_input(cfg: Config, n: int, dest: Path) -> int:
    """The first `n` rows of the input (distinct keys) into `dest`; how many."""
    from video_pipeline.io.jsonl import dumps_line, iter_lines, parse_line
    from video_pipeline.io.keys import KEY_FIELD, row_key

    seen: set[str] = set()
    with open(dest, "wb") as out:
        for _off, lineno, line in iter_lines(cfg.data.input_jsonl):
            try:
                row = parse_line(line, lineno)
                key = row_key(row, cfg.data.video_field, cfg.data.id_field)
            except Exception:
                continue
            if key in seen:
                continue
            seen.add(key)
            if not Path(str(row.get(cfg.data.video_field, ""))).is_absolute():
                base = Path(cfg.data.input_jsonl).resolve().parent
                row[cfg.data.video_field] = str(base / row[cfg.data.video_field])
            out.write(dumps_line({KEY_FIELD: key, **row}))
            if len(seen) == n:
                break
    return len(seen)


def bench_config(cfg: Config, work: Path, n: int) -> tuple[Config, int]:
    """The task config `cfg` to measure: on a sample of `n` videos, fixed-length
    answers, written to `work`."""
    from video_pipeline.runner.checks import check_engine

    check_engine([cfg], on_cpu=not machine_has_gpu())
    rows = work / "input.jsonl"
    videos = sample_input(cfg, n, rows)
    data = cfg.to_dict()
    data["data"].update(input_jsonl=str(rows), output_jsonl=str(work / "out.jsonl"), resume=False)
    data["sampling"]["extra"] = {**data["sampling"].get("extra", {}), "ignore_eos": True}
    data["run"]["log_every"] = 10**9
    return load_config(data=data), videos


def measure(cfg: Config, videos: int, settings: dict[str, Any], repeat: int = 1) -> Measurement:
    """`repeat` pairs of pipeline then engine alone, on one engine, in this process."""
    from transformers import AutoProcessor

    from video_pipeline.engine.vllm_engine import VllmEngine, build_llm, build_sampling_params
    from video_pipeline.runner.rank import run_rank
    from video_pipeline.tasks.registry import get_task_class

    processor = AutoProcessor.from_pretrained(
        cfg.vllm.model, trust_remote_code=cfg.vllm.trust_remote_code
    )
    seeded = cfg.sampling.seed is not None
    llm = build_llm(cfg.vllm, seeded=seeded, render_threads=cfg.run.render_threads)
    engine = VllmEngine(llm)
    task = get_task_class(cfg.run.task)(**cfg.task_kwargs)
    params = build_sampling_params(cfg.sampling, task)

    pairs, all_stats = [], []
    for k in range(max(1, repeat)):
        run_cfg = _with_output(cfg, k)
        t0 = time.perf_counter()
        stats = run_rank(run_cfg, 0, 1, engine_factory=lambda: engine, processor=processor)
        pipeline_s = time.perf_counter() - t0
        reset_caches(llm)  # before rendering: the processor cache mirrors the engine's
        requests = _predecode(cfg, engine, task, processor)
        alone_s, alone_steps = engine_alone(engine, requests, params, k)
        reset_caches(llm)
        pairs.append(
            Pair(
                pipeline_s,
                alone_s,
                Steps(stats.steps, stats.mean_in_flight, stats.engine_s, stats.engine_cpu_s),
                alone_steps,
            )
        )
        all_stats.append(stats)
    stats = all_stats[median_index(pairs)]
    times = {
        "decode_s (summed over workers)": stats.decode_s,
        "render_s": stats.render_s,
        "step_s": stats.engine_s,
        "add_s": stats.add_s,
        "idle_s": stats.wait_s,
        "other_s": stats.other_s,
        "outside_step_share": stats.rates()["outside_step_share"],
    }
    decode = {
        "cpu_s_per_video_min": round(stats.rates()["decode_cpu_s_per_video_min"], 3),
        "frames_kept": stats.frames_kept,
        "frames_decoded": stats.frames_decoded,
        # each decode worker's peak RSS growth over its start (MiB)
        "workers_peak_rss_mb": stats.decode_workers_peak_rss_mb,
        "workers_out_mb": stats.decode_workers_out_mb,  # the largest output of each
    }
    return Measurement(
        settings, stats.finished, pairs, stats.prompt_tokens, stats.generated_tokens, times, decode
    )


def median_index(pairs: list[Pair]) -> int:
    """The pair whose ratio is the median (the lower one of an even count)."""
    return sorted(range(len(pairs)), key=lambda i: pairs[i].ratio)[(len(pairs) - 1) // 2]


def _with_output(cfg: Config, k: int) -> Config:
    """The config of repeat k: its own output, so no run resumes from another."""
    if k == 0:
        return cfg
    data = cfg.to_dict()
    out = Path(cfg.data.output_jsonl)
    data["data"]["output_jsonl"] = str(out.with_name(f"{out.stem}.{k}{out.suffix}"))
    return load_config(data=data)


def build_dataset(cfg: Config, task: Any, processor: Any, params: dict | None = None) -> Any:
    """The task's dataset over every row of the config's input, as a rank builds it."""
    import numpy as np

    from video_pipeline.data.registry import get_dataset_class
    from video_pipeline.data.samples import SampleSource
    from video_pipeline.io.jsonl import InputIndex

    index = InputIndex.build(cfg.data.input_jsonl, cfg.data.video_field, cfg.data.id_field)
    samples = SampleSource(index, np.arange(len(index)), cfg.data.video_field, cfg.data.id_field)
    dataset_cls = get_dataset_class(task.dataset_name)
    return dataset_cls(samples, task, processor, cfg.vision, cfg.dataset_params | (params or {}))


def render_all(engine: Any, items: list[Any]) -> list[Any]:
    """The engine requests of decoded items (those without an error), rendered here."""
    return [engine.render(engine.tokenize(it["llm_input"])) for it in items if "llm_input" in it]


def _predecode(cfg: Config, engine: Any, task: Any, processor: Any) -> list[Any]:
    """Every sample decoded and rendered in this process, as the ceiling's input."""
    dataset = build_dataset(cfg, task, processor)
    return render_all(engine, [dataset[i] for i in range(len(dataset))])


def reset_caches(llm: Any) -> None:
    """Empty vLLM's prefix, processor and encoder caches, so a run after another is not
    handed work the first one did."""
    if not llm.reset_prefix_cache():  # refused while blocks are held: nothing may be running
        raise RuntimeError("the prefix cache was not reset")
    llm.reset_mm_cache()
    llm.llm_engine.reset_encoder_cache()


def engine_alone(engine: Any, requests: list[Any], params: Any, k: int) -> tuple[float, Steps]:
    """Every request added at once, then stepped to the end: the engine's own speed."""
    from video_pipeline.runner.loop import StepMeter

    meter = StepMeter()
    t0 = time.perf_counter()
    for i, request in enumerate(requests):
        engine.add(f"ceiling-{k}-{i}", request, params)
    while engine.in_flight():
        meter.step(engine)
    wall = time.perf_counter() - t0
    return wall, Steps(meter.count, meter.mean_in_flight, meter.wall_s, meter.cpu_s)


def scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="vp-bench-"))


def cleanup(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
