"""Shared helpers for tests: configs for the tiny model, CLI runs, record checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def demo_config(
    model: Path, input_jsonl: Path, output_jsonl: Path, task: str = "describe", **sections: Any
) -> dict[str, Any]:
    """A config that runs fast on 2 CPU cores with the tiny model."""
    cfg: dict[str, Any] = {
        "data": {
            "input_jsonl": str(input_jsonl),
            "output_jsonl": str(output_jsonl),
            "num_workers": 1,
        },
        "vision": {"total_pixels": 50176, "min_pixels": 3136, "fps": 2},
        "vllm": {
            "model": str(model),
            "dtype": "bfloat16",
            "max_model_len": 4096,
            "enforce_eager": True,
            "limit_mm_per_prompt": {"video": 1, "image": 0},
        },
        "sampling": {"temperature": 0.7, "max_tokens": 8, "seed": 0},
        "run": {"task": task, "log_every": 5, "fsync_every": 1},
        "task_params": {},
    }
    for name, values in sections.items():
        if name == "task_params":
            cfg["task_params"] = values
        else:
            cfg.setdefault(name, {}).update(values)
    return cfg


def write_config(path: Path, cfg: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    return env


def run_cli(
    module: str,
    *args: str,
    timeout: float = 600,
    check: bool = True,
    env: dict[str, str] | None = None,
):
    """Run `python -m module args...` (`env`: variables on top of `cli_env()`); returns
    the CompletedProcess (output captured)."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**cli_env(), **(env or {})},
        cwd=REPO,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{module} {' '.join(args)} exited {proc.returncode}\n"
            f"--- stderr (tail) ---\n{proc.stderr[-6000:]}"
        )
    return proc


DECODERS = ("torchcodec", "decord", "qwen_vl_utils", "av", "torchvision", "vllm")


def imported_decoders(module: str, *args: str) -> tuple[list[str], str]:
    """Run `python -X importtime -m module args...` (it must succeed); returns the
    decoder modules it imported (top-level names of DECODERS) and its stdout."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=cli_env(),
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    names = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    return sorted(names & set(DECODERS)), proc.stdout


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def input_keys(path: Path, field: str = "path") -> list[str]:
    return [json.loads(line)[field] for line in path.read_text().splitlines() if line.strip()]


def vision_for(model: Path, total_units: int = 64, min_units: int = 4) -> dict[str, int]:
    """The tests' small vision budgets in the model family's pixel units (for the tiny
    Qwen2.5-VL, the values `demo_config` uses)."""
    from video_pipeline.models import resolve_profile

    unit = resolve_profile(str(model)).pixel_unit
    return {"total_pixels": total_units * unit, "min_pixels": min_units * unit}


def hf_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """A video's metadata as the HF processors take it: without the `do_sample_frames`
    flag that vLLM reads from it for GLM-4.1V (transformers' VideoMetadata has no
    such field; the flag goes to the processor as a keyword)."""
    return {k: v for k, v in metadata.items() if k != "do_sample_frames"}


def processor_counts(cfg: Any) -> dict[str, tuple[int, int]]:
    """Per input key of a config: (the HF processor's prompt tokens, the pipeline's
    count) for the video decoded exactly as a run decodes it (same dataset, reader and
    vision settings). The HF processor's count is what vLLM must report."""
    from transformers import AutoProcessor

    from video_pipeline.data.registry import get_dataset_class
    from video_pipeline.data.samples import SampleSource
    from video_pipeline.data.video_reader import install_reader
    from video_pipeline.io.jsonl import InputIndex
    from video_pipeline.runner.budget import TokenBudget
    from video_pipeline.tasks.registry import get_task_class

    processor = AutoProcessor.from_pretrained(cfg.vllm.model)
    install_reader(cfg.vision.reader)
    data = cfg.data
    index = InputIndex.build(data.input_jsonl, data.video_field, data.id_field)
    samples = SampleSource(index, list(range(len(index))), data.video_field, data.id_field)
    task = get_task_class(cfg.run.task)(**cfg.task_kwargs)
    dataset = get_dataset_class(task.dataset_name)(
        samples, task, processor, cfg.vision, cfg.dataset_params
    )
    budget = TokenBudget(processor, None)
    counts = {}
    for i in range(len(dataset)):
        item = dataset[i]
        llm_input = item["llm_input"]
        frames, metadata = llm_input["multi_modal_data"]["video"][0]
        # a video's audio heard with it (Omni): samples at the feature extractor's rate
        audio = [a for a, _rate in llm_input["multi_modal_data"].get("audio") or []]
        out = processor(
            text=[llm_input["prompt"]],
            videos=[frames],
            video_metadata=[hf_metadata(metadata)],
            return_tensors="pt",
            **({"audio": audio} if audio else {}),
            **llm_input["mm_processor_kwargs"],
        )
        counts[item["__key"]] = (int(out["input_ids"].shape[1]), budget.count(llm_input).total)
    return counts
