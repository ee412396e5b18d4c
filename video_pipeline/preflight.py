"""Preflight: probe every input video as a run would, without loading the model.

Each row goes through the run's own path (the task's dataset, the configured reader,
the decode deadline, `data.num_workers` decode worker processes), so a video that fails here
fails in the run, and the token count is the one the engine will see. The report lists
the rows that will fail, the videos over `vllm.max_model_len`, the total prompt tokens,
and the GPU-hours a given prompt-token rate implies. From each video's header it also
predicts the decode's CPU seconds and peak memory (`decode_cost.py`), warns about
videos that would pass `run.decode_timeout_s` or a decode worker's share of memory,
and says how many host cores per GPU decoding needs at a given engine rate.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from video_pipeline.config.schema import Config
from video_pipeline.data.registry import get_dataset_class
from video_pipeline.data.sample import Parts, Prepared
from video_pipeline.data.samples import SampleSource
from video_pipeline.data.video_reader import install_reader
from video_pipeline.decode_cost import DecodeCosts, DecodePlan, decode_lines
from video_pipeline.io.jsonl import (
    InputIndex,
    RowError,
    dumps_line,
    dumps_text,
    iter_lines,
    parse_line,
    shown,
)
from video_pipeline.plugins import load_plugins
from video_pipeline.runner.budget import TokenBudget, TokenCount
from video_pipeline.runner.checks import check_model
from video_pipeline.runner.feed import END, DecodeFeed
from video_pipeline.stages.plan import is_staged, is_text_only, upstream_of
from video_pipeline.stages.upstream import StagedTask, UpstreamJoin
from video_pipeline.storage.cache import activate
from video_pipeline.storage.prefetch import prefetcher_for
from video_pipeline.tasks.registry import get_task_class

log = logging.getLogger("video_pipeline")


@dataclass
class PreflightReport:
    input: str
    task: str
    max_model_len: int | None
    rows: int = 0
    unique: int = 0
    duplicates: int = 0
    ok: int = 0
    failed: int = 0
    over_budget: int = 0
    prompt_tokens: int = 0  # of the videos that fit
    video_tokens: int = 0
    audio_tokens: int = 0  # of them, a video's audio (vision.use_audio_in_video)
    max_prompt_tokens: int = 0
    max_generated_tokens: int = 0  # sampling.max_tokens for every video that fits
    tokens_per_s: float | None = None
    gpu_hours: float | None = None
    wall_s: float = 0.0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)  # key, kind, message
    over_budget_videos: list[dict[str, Any]] = field(default_factory=list)  # key, tokens
    clips: dict[str, Any] | None = None  # with clips on: clips per video, tokens per clip
    remote_videos: int = 0  # fetched from storage (s3://, http(s)://, ...)
    remote_bytes: int = 0  # what a run fetches (sizes from a HEAD or stat of each)
    decode: dict[str, Any] | None = None  # predicted decode cost (see DecodePlan)
    decode_warnings: list[dict[str, Any]] = field(default_factory=list)  # key, why, cost
    # a stage: how many prompts were filled from upstream records, how many estimated
    # (each upstream answer as `max_tokens` of its task: {task: tokens})
    stage: dict[str, Any] | None = None

    def summary(self) -> str:
        lines = [
            f"preflight of {self.input} for task {self.task}: {self.rows} rows, "
            f"{self.unique} unique keys ({self.duplicates} duplicate rows)",
            f"  ok: {self.ok}   will fail: {self.failed}   over the token budget "
            f"(vllm.max_model_len={self.max_model_len}): {self.over_budget}",
            f"  prompt tokens: {self.prompt_tokens} ({self.video_tokens} of them video"
            f"{f', {self.audio_tokens} audio' if self.audio_tokens else ''}), "
            f"largest prompt {self.max_prompt_tokens}; generated at most "
            f"{self.max_generated_tokens}",
        ]
        if self.gpu_hours is not None:
            lines.append(
                f"  at {self.tokens_per_s:g} prompt tokens/s per GPU: "
                f"{self.gpu_hours:.4g} GPU-hours"
            )
        if self.clips is not None:
            c = self.clips
            lines.append(
                f"  clips: {c['videos']} videos -> {c['clips']} clips (per video: min "
                f"{c['per_video_min']}, mean {c['per_video_mean']:.3g}, max {c['per_video_max']}; "
                f"{c['videos_failed']} videos could not be probed); tokens per clip: mean "
                f"{c['tokens_per_clip_mean']:.4g}, max {c['tokens_per_clip_max']}"
            )
        if self.stage is not None:
            st = self.stage
            per = ", ".join(f"{t}: {n}" for t, n in st["estimate_tokens"].items())
            lines.append(
                f"  stage prompts: {st['filled']} filled from upstream records, "
                f"{st['estimated']} estimated (upstream answers as long as their "
                f"sampling.max_tokens: {per})"
            )
        if self.remote_videos:
            lines.append(
                f"  remote videos: {self.remote_videos}, {self.remote_bytes / 2**20:.1f} MiB "
                "to fetch"
            )
        if self.decode is not None:
            lines += decode_lines(self.decode, self.decode_warnings)
        for kind, n in sorted(self.errors_by_kind.items()):
            lines.append(f"  {kind}: {n}")
        for e in self.errors[:20]:
            message = e["message"].splitlines()[0]
            if len(message) > 240:  # cut at a word, never inside a path
                message = message[:240].rsplit(" ", 1)[0] + " ..."
            lines.append(f"    {shown(e['key'])}: {e['kind']}: {shown(message)}")
        for v in self.over_budget_videos[:20]:
            lines.append(f"    {shown(v['key'])}: {v['tokens']} tokens")
        listed = max(len(self.errors), len(self.over_budget_videos))
        if listed > 20:
            lines.append("    ... (--json lists them all)")
        lines.append(f"  probed in {self.wall_s:.1f}s")
        return "\n".join(lines)

    def to_json(self) -> str:
        return dumps_text(asdict(self), indent=2)


class _Probe:
    """The dataset's items reduced to what preflight reports, in the decode workers:
    the decoded tensors stay there."""

    def __init__(self, dataset: Any, budget: TokenBudget, video_field: str = "path") -> None:
        self.dataset = dataset
        self.video_field = video_field
        self.samples = dataset.samples  # names a sample whose worker died
        self.budget = budget

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.probe(self.dataset[i])

    def probe(self, item: Any) -> dict[str, Any]:
        if not isinstance(item, Prepared):  # the dataset's item (the seed's contract)
            if "key" in item:
                return item  # already probed
            item = Prepared.from_item(0, item, [0])
        # else a decode that crashed or timed out
        out: dict[str, Any] = {"key": item.key, "decode_s": round(item.decode_s, 4)}
        raw = item.raw
        if isinstance(raw, dict):  # where the video is, for the decode cost prediction
            out["video"] = {
                "value": raw.get(self.video_field),
                "start": raw.get("video_start"),
                "end": raw.get("video_end"),
            }
        if item.error is not None:
            return {**out, "status": "error", "error": item.error.to_dict()}
        if not item.inputs:
            raise KeyError("llm_input")  # an item with neither an input nor an error
        llm_input = item.inputs[0]
        # a transcript's windows are requests of their own: each within the budget
        requests = llm_input.inputs if isinstance(llm_input, Parts) else [llm_input]
        counts = [self.budget.measure(x) for x in requests]
        known = [c for c in counts if c is not None]
        n = None
        if len(known) == len(counts):
            n = TokenCount(*(sum(getattr(c, f) for c in known) for f in ("text", "video", "audio")))
        over = next((e for c in known if (e := self.budget.over(c)) is not None), None)
        out.update(
            status="over_budget" if over else "ok",
            error=over.to_dict() if over else None,
            tokens=n.total if n else None,
            video_tokens=n.video if n else None,
            audio_tokens=n.audio if n else None,
            requests=len(requests),
            largest=max((c.total for c in known), default=0),
        )
        if isinstance(llm_input, Parts):
            return out
        for video in (llm_input.get("multi_modal_data") or {}).get("video") or []:
            frames, meta = video if isinstance(video, tuple) else (video, {})
            t, _c, h, w = tuple(frames.shape)
            fps, total = meta.get("fps"), meta.get("total_num_frames")
            out.update(frames=t, height=h, width=w, source_frames=total, source_fps=fps)
            if fps and total:
                out["duration_s"] = round(total / fps, 3)
        return out


def model_max_len(cfg: Config) -> int | None:
    """`vllm.max_model_len`, else what vLLM would derive from the model's config."""
    if cfg.vllm.max_model_len is not None:
        return cfg.vllm.max_model_len
    from transformers import AutoConfig

    mc = AutoConfig.from_pretrained(cfg.vllm.model, trust_remote_code=cfg.vllm.trust_remote_code)
    text = getattr(mc, "text_config", None) or mc
    return getattr(text, "max_position_embeddings", None)


def run_preflight(
    cfg: Config,
    tokens_per_s: float | None = None,
    probes_out: Path | None = None,
    processor: Any = None,
    plan: DecodePlan | None = None,
    upstream_max_tokens: dict[str, int] | None = None,
) -> PreflightReport:
    """Probe every row of `cfg` as a run would. A stage's prompt is its template filled
    from its upstream's records where they exist, else with answers as long as
    `upstream_max_tokens` ({task: sampling.max_tokens}) allows: an upper estimate."""
    t0 = time.perf_counter()
    load_plugins(cfg.run.plugins)
    profile = check_model(cfg)  # an unsupported model or impossible vision budget: stop
    task = get_task_class(cfg.run.task)(**cfg.task_kwargs)
    stage = None
    if is_staged(cfg):
        limits = {n: (upstream_max_tokens or {}).get(n, 0) for n in upstream_of(cfg)}
        task = stage = StagedTask(task, UpstreamJoin.load(cfg), estimate=limits)
    frameless = is_text_only(cfg)  # a transcript's soundtrack: no frames to price
    index = InputIndex.build(cfg.data.input_jsonl, cfg.data.video_field, cfg.data.id_field)
    first = index.first_occurrence()
    report = PreflightReport(cfg.data.input_jsonl, task.name, model_max_len(cfg))
    report.rows, report.unique = len(index), int(first.sum())
    report.duplicates = report.rows - report.unique
    reader = install_reader(cfg.vision.reader)
    if processor is None:
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(
            cfg.vllm.model, trust_remote_code=cfg.vllm.trust_remote_code
        )
    samples = SampleSource(
        index, first.nonzero()[0], cfg.data.video_field, cfg.data.id_field, cfg.data.video_dir
    )
    dataset = get_dataset_class(task.dataset_name)(
        samples, task, processor, cfg.vision, cfg.dataset_params
    )
    probe = _Probe(
        dataset, TokenBudget(processor, report.max_model_len, profile), cfg.data.video_field
    )
    plan = plan or DecodePlan()
    costs = DecodeCosts(cfg, profile.patch_size, plan)
    dataset.storage = cfg.storage
    workers = max(1, cfg.data.num_workers)
    fetcher = prefetcher_for(cfg, "preflight", samples, dataset)
    feed = DecodeFeed(
        probe,
        workers=workers,
        timeout_s=cfg.run.decode_timeout_s,
        maxsize=64,
        reader=reader,
        fetcher=fetcher,
    )
    kinds: Counter[str] = Counter()
    filled: Counter[bool] = Counter()
    sink = open(probes_out, "wb") if probes_out else None  # noqa: SIM115
    try:
        while (item := feed.get(block=True)) is not END:
            p = probe.probe(item)  # a crash or timeout comes back as a plain error item
            if stage is not None:
                filled[stage.answered(p["key"])] += 1
            if not frameless:  # reads the video's header here, while the workers decode
                costs.add(p)
            _add(report, p, kinds, cfg.sampling.max_tokens)
            if sink is not None:
                sink.write(dumps_line(p))
            done = report.ok + report.failed + report.over_budget
            if done % max(cfg.run.log_every, 1) == 0:
                log.info("preflight: %d/%d probed", done, report.unique)
    finally:
        stats = fetcher.cache.stats
        feed.close()
        activate(None)
        if sink is not None:
            sink.close()
    report.remote_videos, report.remote_bytes = stats.fetches, stats.fetched_bytes
    report.errors_by_kind = dict(kinds)
    if not frameless:  # a soundtrack's decode is not priced (about 1% of the frames')
        report.decode, report.decode_warnings = costs.summary(), costs.warnings
    if cfg.clips.enabled:
        report.clips = clip_stats(cfg, report)
    if stage is not None:
        report.stage = {
            "filled": filled[True],
            "estimated": filled[False],
            "estimate_tokens": dict(stage.estimate or {}),
        }
    if tokens_per_s:
        report.tokens_per_s = tokens_per_s
        report.gpu_hours = report.prompt_tokens / tokens_per_s / 3600
    report.wall_s = time.perf_counter() - t0
    return report


def _add(report: PreflightReport, p: dict[str, Any], kinds: Counter[str], max_tokens: int) -> None:
    if p["status"] == "error":
        report.failed += 1
        kinds[p["error"]["kind"]] += 1
        report.errors.append(
            {"key": p["key"], "kind": p["error"]["kind"], "message": p["error"]["message"]}
        )
        return
    report.max_prompt_tokens = max(report.max_prompt_tokens, p.get("largest", p["tokens"]) or 0)
    if p["status"] == "over_budget":
        report.over_budget += 1
        report.over_budget_videos.append({"key": p["key"], "tokens": p["tokens"]})
        return
    report.ok += 1
    report.prompt_tokens += p["tokens"] or 0  # None: an input the count does not know
    report.video_tokens += p["video_tokens"] or 0
    report.audio_tokens += p.get("audio_tokens") or 0
    report.max_generated_tokens += max_tokens * p.get("requests", 1)


def clip_stats(cfg: Config, report: PreflightReport) -> dict[str, Any]:
    """Clips per video, from the clip rows (`video_key`; a video expansion could not
    probe is one error row), and tokens per clip from this preflight."""
    from video_pipeline.clips.expand import ERROR_FIELD, VIDEO_KEY_FIELD

    counts: Counter[str] = Counter()
    failed = 0
    for _offset, lineno, line in iter_lines(cfg.data.input_jsonl):
        try:
            row = parse_line(line, lineno)
        except RowError:
            failed += 1
            continue
        if ERROR_FIELD in row:
            failed += 1
        else:
            counts[str(row.get(VIDEO_KEY_FIELD))] += 1
    n = list(counts.values())
    return {
        "videos": len(n) + failed,
        "videos_failed": failed,
        "clips": sum(n),
        "per_video_min": min(n, default=0),
        "per_video_mean": sum(n) / len(n) if n else 0.0,
        "per_video_max": max(n, default=0),
        "tokens_per_clip_mean": report.prompt_tokens / report.ok if report.ok else 0.0,
        "tokens_per_clip_max": report.max_prompt_tokens,
    }
