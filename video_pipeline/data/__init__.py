"""Datasets: turn input rows into engine inputs. Importing this registers the built-ins."""

from video_pipeline.data import (  # noqa: F401
    dataset_audio,
    dataset_captions,
    dataset_frames,
    dataset_qwen_video,
    dataset_text,
)
