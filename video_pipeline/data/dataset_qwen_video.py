"""`qwen_video`: one video file per row, decoded by qwen_vl_utils in `__getitem__`."""

from __future__ import annotations

from video_pipeline.data.base import BaseDataset
from video_pipeline.data.registry import register_dataset


@register_dataset("qwen_video")
class QwenVideoDataset(BaseDataset):
    """The default dataset; all of its behaviour is the base contract."""
