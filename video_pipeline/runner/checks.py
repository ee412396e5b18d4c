"""Checks of the things a config points at, run before torchrun starts any rank."""

from __future__ import annotations

from pathlib import Path

from video_pipeline.config import Config, ConfigError


def check_paths(cfg: Config) -> None:
    errs = []
    inp = Path(cfg.data.input_jsonl)
    if not inp.is_file():
        errs.append(f"data.input_jsonl: no such file {str(inp)!r}")
    model = cfg.vllm.model
    looks_local = model.startswith(("/", "./", "../", "~")) or Path(model).exists()
    if looks_local and not (Path(model).expanduser() / "config.json").is_file():
        errs.append(f"vllm.model: {model!r} is not a model directory (no config.json in it)")
    out_dir = Path(cfg.data.output_jsonl).parent
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        errs.append(f"data.output_jsonl: cannot create its folder {str(out_dir)!r}: {e}")
    if errs:
        raise ConfigError(errs)
