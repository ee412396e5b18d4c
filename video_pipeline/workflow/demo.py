"""Inputs of the demo: generated videos, their input JSONL and the tiny Qwen2.5-VL.

Nothing is downloaded: the videos are drawn with PyAV and the model is built from
`transformers` classes with random weights, so the whole pipeline runs on a laptop's
CPU in minutes (the answers are gibberish by design).
"""

from __future__ import annotations

import logging
from pathlib import Path

from video_pipeline.fixtures.tiny_model import build_tiny_model
from video_pipeline.fixtures.videos import make_video_set, write_input_jsonl

log = logging.getLogger("video_pipeline")


def prepare(rows: str | Path, videos_dir: str | Path, model_dir: str | Path, n_videos: int) -> None:
    videos = make_video_set(videos_dir, n_videos, seconds=2.0, fps=8, width=64, height=48)
    write_input_jsonl(rows, videos)
    log.info("%d videos and %s written", len(videos), rows)
    log.info("tiny model in %s", build_tiny_model(model_dir))
