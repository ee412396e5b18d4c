"""`frames`: a video given as a folder of frame images or a list of image paths.

For collections stored as extracted frames. qwen_vl_utils reads a list of images as a
video; frames are taken in name order, subsampled to `vision.nframes` or
`vision.max_frames` when set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from video_pipeline.data.base import BaseDataset, _local_path
from video_pipeline.data.registry import register_dataset
from video_pipeline.errors import SampleError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@register_dataset("frames")
class FramesDataset(BaseDataset):
    def video_uri(self, value: Any) -> list[str]:
        if isinstance(value, str) and value.strip():
            folder = _local_path(value, self.base_dir)
            if folder is None or not folder.is_dir():
                raise SampleError("video_not_found", f"no such frame folder: {folder or value}")
            frames = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            frames = [_local_path(v, self.base_dir) or Path(v) for v in value]
            missing = [str(p) for p in frames if not p.is_file()]
            if missing:
                raise SampleError("video_not_found", f"missing frame(s): {', '.join(missing[:3])}")
        else:
            raise SampleError(
                "missing_video", f"frames video must be a folder or a list of images, got {value!r}"
            )
        if len(frames) < 2:
            raise SampleError("decode_error", f"a video needs at least 2 frames, got {len(frames)}")
        limit = self.vision.nframes or self.vision.max_frames
        if limit and len(frames) > limit:
            step = len(frames) / limit
            frames = [frames[int(i * step)] for i in range(limit)]
        return [f"file://{p.resolve()}" for p in frames]

    def apply_vision(self, messages: list[dict[str, Any]], raw: dict[str, Any]) -> None:
        super().apply_vision(messages, raw)
        # Frame lists are used as given: sampling keys do not apply, clip bounds neither.
        for message in messages:
            for ele in message.get("content") if isinstance(message.get("content"), list) else []:
                if isinstance(ele, dict) and isinstance(ele.get("video"), list):
                    for k in (
                        "fps",
                        "nframes",
                        "video_start",
                        "video_end",
                        "min_frames",
                        "max_frames",
                    ):
                        ele.pop(k, None)
                    ele["sample_fps"] = float(self.params.get("frames_fps", self.vision.fps or 2.0))
