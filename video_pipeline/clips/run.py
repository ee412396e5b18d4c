"""A config run over its clips: the configs that the ranks, merge, verify and preflight use.

With `clips` on, the samples are the clip rows (`prepare.py`), not the user's input:
the run's configs read them instead, and keep resolving relative video paths against
the user's input folder (`data.base_dir`). Users keep their own input path in their
config; everything below `launch` sees a clip row as an ordinary row.
"""

from __future__ import annotations

import json
from pathlib import Path

from video_pipeline.clips.prepare import ClipFiles, is_current, is_expanded, prepare_clip_rows
from video_pipeline.config.loader import task_configs
from video_pipeline.config.schema import Config


class ClipsNotExpanded(RuntimeError):
    """The clip rows of a config are missing or older than its input."""


def clip_run_config(cfg: Config, rows: str | Path) -> Config:
    """`cfg` reading the clip rows `rows`, relative video paths still the input's."""
    data = cfg.data.model_copy(update={"input_jsonl": str(rows), "base_dir": cfg.data.video_dir})
    return cfg.model_copy(update={"data": data})


def run_overrides(run_cfg: Config) -> list[str]:
    """`--set` overrides that make a user's config file read like `run_cfg` (JSON
    strings are YAML, so any path survives the override parser)."""
    return [
        f"data.input_jsonl={json.dumps(run_cfg.data.input_jsonl)}",
        f"data.base_dir={json.dumps(run_cfg.data.base_dir)}",
    ]


def run_configs(cfg: Config, expand: bool = False, workers: int = 0) -> list[Config]:
    """The single-task configs of a run of `cfg` (its clip-row configs with clips on).

    `expand` writes the clip rows when missing or out of date; otherwise they must be
    current (ClipsNotExpanded), so a merge never reports on rows of an older input.
    """
    if not cfg.clips.enabled:
        return task_configs(cfg)
    if expand:
        files, _ = prepare_clip_rows(cfg, workers=workers)
    else:
        files = ClipFiles.of(cfg.data.output_jsonl)
        if is_expanded(cfg.data.input_jsonl):
            files = ClipFiles.beside(cfg.data.input_jsonl)
        if not is_current(cfg, files):
            why = "older than the input or the clips settings" if files.rows.exists() else "missing"
            raise ClipsNotExpanded(
                f"the clip rows {files.rows} are {why}: run `launch` (or "
                "`python -m video_pipeline.cli.clips expand`) first"
            )
    return task_configs(clip_run_config(cfg, files.rows))
