"""Thumbnails of the frames the model was given: the run's own, else decoded as it did.

A run with `run.thumbnails` on kept a strip of each sample's frames (strips.py); those
are written out as they are, and nothing is decoded. A record without one (an older
run, thumbnails off) has its video decoded:

The same reader (`vision.reader`), the task's own messages, the dataset's vision
settings and clip bounds, and the dataset's `decode_vision` (qwen_vl_utils'
`process_vision_info`): the strip shows the sampled frames at their timestamps, at the
size the model saw them, scaled to fit `size` pixels on their longer side (a vertical
video keeps its aspect). Each video's strip is written once under `thumbs/` and reused
by the next report of the same folder, as long as the video file and the settings are
unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np

from video_pipeline.config.schema import Config
from video_pipeline.io.atomic import write_json
from video_pipeline.io.record import Record
from video_pipeline.models.profile import ModelProfile
from video_pipeline.quality import RecordSource
from video_pipeline.strips import StripIndex, strips_path

log = logging.getLogger("video_pipeline")

# Error kinds of samples the run got no frames of: the report does not try again.
NOT_DECODED = frozenset(
    {
        "missing_video",
        "video_not_found",
        "not_a_file",
        "decode_error",
        "decode_crash",
        "decode_timeout",
        "fetch_error",
        "fetch_denied",
    }
)
MAX_FRAMES = 16  # thumbnails per strip; a long video's sampled frames are thinned to this


class Thumbnailer:
    """Strips for the records of one task, written under `root/thumbs/`."""

    def __init__(
        self,
        cfg: Config,
        root: Path,
        size: int = 160,
        source: RecordSource | None = None,
        keys: Collection[str] | None = None,
    ) -> None:
        """`keys`: the records that will be shown (the run's strips of others are not
        indexed, so a run of millions costs one pass over its strips, not their keys)."""
        self.cfg = cfg
        self.root = root
        self.size = size
        self.stored = _stored_strips(source, keys) if source is not None else None
        self.decoded = 0  # videos decoded for want of a stored strip
        self._dataset: Any = None

    def _setup(self) -> None:
        """The run's reader and dataset, built on the first video without a strip."""
        from video_pipeline.data.registry import get_dataset_class
        from video_pipeline.data.samples import SampleSource
        from video_pipeline.data.video_reader import install_reader
        from video_pipeline.io.jsonl import InputIndex
        from video_pipeline.plugins import load_plugins
        from video_pipeline.tasks.registry import get_task_class

        cfg = self.cfg
        load_plugins(cfg.run.plugins)
        self.reader = install_reader(cfg.vision.reader)
        task = get_task_class(cfg.run.task)(**cfg.task_kwargs)
        empty = np.zeros(0, dtype=np.int64)
        # The dataset resolves relative paths against the input's folder, as in the run.
        index = InputIndex(path=cfg.data.input_jsonl, offsets=empty, linenos=empty, hashes=empty)
        samples = SampleSource(
            index, empty, cfg.data.video_field, cfg.data.id_field, cfg.data.video_dir
        )
        dataset_cls = get_dataset_class(task.dataset_name)
        self.task = task
        self._dataset = dataset_cls(samples, task, None, cfg.vision, cfg.dataset_params)
        self._dataset.profile = _profile(cfg)  # frames sized in the model family's factor

    @property
    def dataset(self) -> Any:
        if self._dataset is None:
            self._setup()
        return self._dataset

    def strip(self, rec: Record) -> dict[str, Any] | None:
        """`{"frames": [{"src", "t"}], "sampled": n, "width", "height"}`, `{"error": …}`
        when the video cannot be decoded, or None for a record without a video."""
        raw = rec.raw
        if not isinstance(raw, dict) or raw.get(self.cfg.data.video_field) is None:
            return None
        stored = self.stored.get(rec.key) if self.stored is not None else None
        if stored is not None:
            try:
                return self._write_stored(stored)
            except Exception as e:  # a damaged strip: decode instead
                log.warning("thumbnail strip of %r unusable: %s", rec.key, e)
        if rec.error_kind in NOT_DECODED:  # decoding again fails again (or hangs again)
            return {"error": f"the run decoded no frames ({rec.error_kind})"}
        raw = dict(raw)
        if rec.clip is not None:  # a clip of its video: decode within its bounds
            raw.update(video_start=rec.clip.get("start"), video_end=rec.clip.get("end"))
        try:
            messages = self._messages(rec, raw)
            sig = self._signature(messages)
            folder = self.root / "thumbs" / sig[:2] / sig
            index = folder / "index.json"
            if index.exists():
                return json.loads(index.read_text())
            self.decoded += 1
            return self._write(messages, folder, index)
        except Exception as e:  # a report shows what it cannot decode; it never stops
            return {"error": f"{type(e).__name__}: {e}"[:500]}

    def _write_stored(self, stored: dict[str, Any]) -> dict[str, Any]:
        """The run's strip as files under thumbs/, named by their content."""
        jpegs = [base64.b64decode(f["jpeg"]) for f in stored["frames"]]
        sig = hashlib.sha1(b"".join(jpegs)).hexdigest()
        folder = self.root / "thumbs" / sig[:2] / sig
        index = folder / "index.json"
        if index.exists():
            return json.loads(index.read_text())
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for j, (frame, data) in enumerate(zip(stored["frames"], jpegs, strict=True)):
            name = f"{j:04d}.jpg"
            (folder / name).write_bytes(data)
            src = (folder / name).relative_to(self.root).as_posix()
            out.append({"src": src, "t": frame.get("t")})
        keys = ("sampled", "width", "height")
        data = {"frames": out, **{k: stored.get(k) for k in keys}}
        tmp = index.with_name(f"index.json.tmp{os.getpid()}")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, index)
        return data

    def _messages(self, rec: Record, raw: dict[str, Any]) -> list[dict[str, Any]]:
        video = raw.get(self.cfg.data.video_field)
        sample = {"__key": rec.key, "raw": raw, "__video": video}
        sample["__video_uri"] = self.dataset.video_uri(video)
        return self.dataset.task_messages(self.task, sample, raw)

    def _signature(self, messages: list[dict[str, Any]]) -> str:
        """The video elements, the files' size and time, the reader and the size."""
        elements = [
            ele
            for m in messages
            if isinstance(m.get("content"), list)
            for ele in m["content"]
            if isinstance(ele, dict) and ("video" in ele or ele.get("type") == "video")
        ]
        files = []
        for ele in elements:
            v = ele.get("video")
            if isinstance(v, str) and os.path.isfile(v):
                st = os.stat(v)
                files.append([v, st.st_size, st.st_mtime_ns])
        blob = json.dumps([elements, files, self.reader, self.size], sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()

    def _write(self, messages: list[dict[str, Any]], folder: Path, index: Path) -> dict[str, Any]:
        from PIL import Image

        mm = self.dataset.decode_vision(messages)["multi_modal_data"]
        videos = mm.get("video") or []
        if not videos:
            return {"error": "the task's messages hold no video"}
        video = videos[0]
        frames, meta = (video[0], video[1]) if isinstance(video, tuple) else (video, {})
        arr = np.asarray(frames)
        if arr.dtype != np.uint8:
            arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        n = arr.shape[0]
        picks = np.unique(np.linspace(0, n - 1, min(n, MAX_FRAMES)).round().astype(int))
        fps = float(meta.get("fps") or 0)
        indices = list(meta.get("frames_indices") or [])
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        h, w = int(arr.shape[2]), int(arr.shape[3])
        scale = self.size / max(h, w)  # within a size x size box: a tall video stays tall
        box = (max(1, round(w * scale)), max(1, round(h * scale)))
        for j in picks:
            img = Image.fromarray(arr[j].transpose(1, 2, 0)).resize(box, Image.BILINEAR)
            name = f"{j:04d}.jpg"
            img.save(folder / name, quality=85)
            t = indices[j] / fps if fps and j < len(indices) else None
            src = (folder / name).relative_to(self.root).as_posix()
            out.append({"src": src, "t": None if t is None else round(t, 3)})
        data = {"frames": out, "sampled": n, "width": w, "height": h}
        write_json(index, data, indent=None, durable=False)  # a cache: rebuilt if lost
        return data


def _stored_strips(source: RecordSource, keys: Collection[str] | None) -> StripIndex:
    """The strips beside a merged output, or in the sidecars of the rank journals."""
    if source.merged:
        return StripIndex([strips_path(source.files[0])], keys=keys)
    return StripIndex([strips_path(p) for p in source.files], source.fingerprint, keys)


def _profile(cfg: Config) -> ModelProfile:
    """The model's family; without its config.json the strips use Qwen2.5-VL's sizes."""
    from video_pipeline.models import UnsupportedModelError, get_model_family, resolve_profile

    try:
        return resolve_profile(cfg.vllm.model)
    except UnsupportedModelError as e:
        log.warning("thumbnails sized as for Qwen2.5-VL: %s", e)
        return get_model_family("qwen2_5_vl")
