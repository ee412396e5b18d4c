"""Decoding a video a few frames at a time, each chunk resized to the size the model sees.

qwen_vl_utils' readers return every sampled frame at full resolution; `fetch_video`
then resizes the whole stack at once (torchvision casts uint8 to float32 first), so a
minute of 1080p at fps 2 holds 120 x 6.2 MB frames and a float32 copy of them: 5.7 GB.
Here the same frames (the same indices, from the same decoder) are decoded in chunks
and each chunk is resized at once, with the same torchvision call, to exactly the size
`fetch_video` would choose. The resize works image by image, so chunking it changes no
value: the frames are bit-identical, and memory is bounded by the output.

`fetch_video` below is the library's own with one difference: it returns the frames
as uint8 instead of casting them to float32 (4x the output's bytes; the values are
the same whole numbers), so a decode holds the output once.

`resize: fast` uses torch's uint8 bicubic kernel with antialias instead (about 10x
faster; values differ from `exact` by rounding, see BENCHMARKS.md).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from video_pipeline.errors import SampleError

CHUNK = 8  # at most this many frames decoded and resized at once
# and at most this many bytes of full-resolution uint8 frames: the exact resize holds a
# float32 copy and an intermediate besides (about 7x): a 4K chunk is two frames
CHUNK_BYTES = 48 * 2**20
# The most full-resolution frames a decode may hold when its output size is not one
# fetch_video keeps (then the library's own whole-stack path runs): beyond it the video
# is refused up front, never left to the OOM killer.
FULL_RES_LIMIT = 2 * 2**30
RESIZE_MODES = ("exact", "fast")
DECODE_DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class DecodeSettings:
    """What the chunked reader needs beyond the video element."""

    factor: int  # the family's pixel factor: image_patch_size * 2 (SPATIAL_MERGE_SIZE)
    resize: str = "exact"
    device: str = "cpu"


_settings: contextvars.ContextVar[DecodeSettings | None] = contextvars.ContextVar(
    "decode_settings", default=None
)


@contextlib.contextmanager
def decode_settings(settings: DecodeSettings) -> Iterator[None]:
    """Within the block, installed readers decode in chunks with these settings.

    Outside it (a dataset calling `process_vision_info` on its own) they return full
    frames as qwen_vl_utils' readers do: slower and bigger, never different.
    """
    token = _settings.set(settings)
    try:
        yield
    finally:
        _settings.reset(token)


def current_settings() -> DecodeSettings | None:
    return _settings.get()


@dataclass(frozen=True)
class FramePlan:
    """What `fetch_video` makes of a video: which frames, at what size."""

    indices: list[int]
    total_frames: int  # frames in the selected range (qwen_vl_utils' metadata)
    fps: float
    sample_fps: float
    height: int  # output size
    width: int
    source: tuple[int, int] = (0, 0)  # the video's height, width

    @property
    def frames(self) -> int:
        return len(self.indices)

    @property
    def nbytes(self) -> int:
        """Bytes of the output frames as uint8 (float32, as qwen_vl_utils returns
        them, is 4x)."""
        return self.frames * 3 * self.height * self.width


def plan_frames(
    ele: dict[str, Any], total_frames: int, fps: float, height: int, width: int, factor: int
) -> FramePlan:
    """The frame indices and output size `fetch_video` gives a video of `total_frames`
    frames at `fps`, `height` x `width`, for a family of pixel factor `factor`.

    Uses qwen_vl_utils' own functions, so it follows the installed version; also what
    a preflight can call with a probe's numbers to predict a video's frames and bytes.
    """
    import qwen_vl_utils.vision_process as vp

    start, end, total = vp.calculate_video_frame_range(ele, total_frames, fps)
    nframes = vp.smart_nframes(ele, total_frames=total, video_fps=fps)
    indices = torch.linspace(start, end, nframes).round().long().tolist()
    h, w = output_size(ele, nframes, height, width, factor)
    return FramePlan(indices, total, fps, nframes / max(total, 1e-6) * fps, h, w, (height, width))


def output_size(
    ele: dict[str, Any], nframes: int, height: int, width: int, factor: int
) -> tuple[int, int]:
    """The size `fetch_video` resizes `nframes` frames of `height` x `width` to (its
    own arithmetic, qwen-vl-utils 0.0.14)."""
    import qwen_vl_utils.vision_process as vp

    min_default = vp.VIDEO_MIN_TOKEN_NUM * factor * factor
    max_default = vp.VIDEO_MAX_TOKEN_NUM * factor * factor
    min_pixels = ele.get("min_pixels", min_default)
    total_pixels = ele.get("total_pixels", vp.MODEL_SEQ_LEN * factor * factor * 0.9)
    max_pixels = max(
        min(max_default, total_pixels / nframes * vp.FRAME_FACTOR), int(min_pixels * 1.05)
    )
    max_pixels = min(ele.get("max_pixels", max_pixels), max_pixels)
    if "resized_height" in ele and "resized_width" in ele:
        return vp.smart_resize(ele["resized_height"], ele["resized_width"], factor=factor)
    return vp.smart_resize(
        height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels
    )


def kept_by_fetch_video(ele: dict[str, Any], plan: FramePlan, factor: int) -> bool:
    """Whether `fetch_video` leaves frames of the plan's size as they are: its size
    choice is a fixed point for its own output except where rounding up to `min_pixels`
    overshoots `max_pixels`, or rounding makes the aspect ratio exceed 200:1 (extreme
    aspect ratios only: tests/data/test_frames.py searches for them)."""
    try:
        again = output_size(ele, plan.frames, plan.height, plan.width, factor)
    except ValueError:  # rounding pushed the aspect ratio past smart_resize's 200:1
        return False
    return again == (plan.height, plan.width)


def resize(frames: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """uint8 TCHW frames resized to `size` as uint8.

    exact: `fetch_video`'s own call (float32 internally, rounded back to uint8).
    fast: torch's uint8 bicubic kernel with antialias.
    """
    if tuple(frames.shape[-2:]) == tuple(size):
        return frames
    if mode == "fast":
        if frames.is_cuda:  # the uint8 kernel is CPU-only; on the GPU float is cheap
            out = torch.nn.functional.interpolate(
                frames.float(), size=list(size), mode="bicubic", antialias=True
            )
            return out.round_().clamp_(0, 255).to(torch.uint8)
        return torch.nn.functional.interpolate(
            frames, size=list(size), mode="bicubic", antialias=True
        )
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as F

    return F.resize(frames, list(size), interpolation=InterpolationMode.BICUBIC, antialias=True)


# ---- fetch_video without the float32 copy ------------------------------------------


def fetch_video(
    ele: dict[str, Any],
    image_patch_size: int = 14,
    return_video_sample_fps: bool = False,
    return_video_metadata: bool = False,
) -> Any:
    """qwen_vl_utils' `fetch_video` (0.0.14) for a video file, its frames left uint8.

    The same reader table and torchvision fallback, the same size (`output_size`: the
    library's arithmetic) and resize call, the same metadata and sample fps; only the
    final `.float()` is left out. `ele["video"]` is a path (a list of images takes the
    library's own path: video_reader.install_reader).
    """
    import qwen_vl_utils.vision_process as vp

    backend = vp.get_video_reader_backend()
    try:
        video, metadata, sample_fps = vp.VIDEO_READER_BACKENDS[backend](ele)
    except Exception as e:
        vp.logger.warning(f"video_reader_backend {backend} error, use torchvision: {e}")
        video, metadata, sample_fps = vp.VIDEO_READER_BACKENDS["torchvision"](ele)
    factor = image_patch_size * vp.SPATIAL_MERGE_SIZE
    size = output_size(ele, video.shape[0], video.shape[2], video.shape[3], factor)
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as F

    # a no-op for the chunked reader's frames, already at this size
    video = F.resize(video, list(size), interpolation=InterpolationMode.BICUBIC, antialias=True)
    final = (video, metadata) if return_video_metadata else video
    return (final, sample_fps) if return_video_sample_fps else final


# ---- the readers -------------------------------------------------------------------


@dataclass
class DecodeFigures:
    """What this process's decodes cost since the last `take_figures`."""

    frames_kept: int = 0
    frames_decoded: int = 0  # kept, and those decoded on the way to them (GOP lead-in)
    video_s: float = 0.0  # seconds of video the sampled ranges cover
    out_mb: float = 0.0  # the largest decode's output frames (uint8 MiB): the RSS bound's base


_figures = DecodeFigures()
_start: tuple[int, int] = (0, 0)  # (pid, ru_maxrss in KiB) when this process began decoding


def worker_start() -> None:
    """Note this process's peak RSS before its first decode (a forked worker inherits
    its parent's pages, so the growth over this is what decoding costs)."""
    global _start
    if _start[0] != os.getpid():
        _start = (os.getpid(), _maxrss_kib())


def take_figures() -> dict[str, Any]:
    """This process's figures since the last call, and its peak RSS growth so far."""
    global _figures
    f, _figures = _figures, DecodeFigures()
    return {
        "pid": os.getpid(),
        "frames_kept": f.frames_kept,
        "frames_decoded": f.frames_decoded,
        "video_s": round(f.video_s, 3),
        "out_mb": round(f.out_mb, 1),
        "peak_rss_mb": round((_maxrss_kib() - _start[1]) / 1024, 1),
    }


def _maxrss_kib() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def frames_decoded(keyframes: list[int], indices: list[int]) -> int:
    """Frames a forward decoder produces for sorted `indices`: it decodes on from the
    last frame when no keyframe lies between, else seeks to the target's keyframe (as
    torchcodec's get_frames_at does)."""
    import bisect

    n, cur = 0, -1
    for t in indices:
        if t <= cur:
            continue  # a repeated index is the frame already decoded
        k = keyframes[bisect.bisect_right(keyframes, t) - 1] if keyframes else 0
        start = cur + 1 if k <= cur else k
        n += t - start + 1
        cur = t
    return n


def codec_threads() -> int:
    """FFmpeg threads per decode: what the rank's thread plan put in the environment."""
    return int(os.environ.get("TORCHCODEC_NUM_THREADS", "8"))


def read_torchcodec(ele: dict[str, Any], settings: DecodeSettings) -> tuple:
    """qwen_vl_utils' torchcodec reader, decoding and resizing a chunk of frames at a time."""
    from torchcodec.decoders import VideoDecoder

    cuda = settings.device == "cuda"
    kwargs: dict[str, Any] = {"device": "cuda"} if cuda else {}
    decoder = VideoDecoder(ele["video"], num_ffmpeg_threads=codec_threads(), **kwargs)
    meta = decoder.metadata
    plan = plan_frames(
        ele, meta.num_frames, meta.average_fps, meta.height, meta.width, settings.factor
    )

    def frames(idx: list[int]) -> torch.Tensor:
        return decoder.get_frames_at(indices=idx).data

    video = _chunked(ele, plan, frames, settings)
    try:
        keyframes = decoder._get_key_frame_indices().tolist()  # private: figures only
    except Exception:
        keyframes = []
    _figures.frames_decoded += frames_decoded(keyframes, sorted(plan.indices))
    return video, _metadata(plan, "torchcodec"), plan.sample_fps


def read_decord(ele: dict[str, Any], settings: DecodeSettings) -> tuple:
    """qwen_vl_utils' decord reader, decoding and resizing a chunk of frames at a time."""
    import decord

    vr = decord.VideoReader(ele["video"], num_threads=codec_threads())
    height, width = vr[0].shape[:2] if len(vr) else (0, 0)
    plan = plan_frames(ele, len(vr), vr.get_avg_fps(), height, width, settings.factor)

    def frames(idx: list[int]) -> torch.Tensor:
        return torch.tensor(vr.get_batch(idx).asnumpy()).permute(0, 3, 1, 2)

    video = _chunked(ele, plan, frames, settings)
    _figures.frames_decoded += frames_decoded(list(vr.get_key_indices()), plan.indices)
    return video, _metadata(plan, "decord"), plan.sample_fps


CHUNKED_READERS = {"torchcodec": read_torchcodec, "decord": read_decord}


def chunk_frames(height: int, width: int) -> int:
    """Frames of height x width decoded and resized at once (CHUNK, CHUNK_BYTES)."""
    return max(1, min(CHUNK, CHUNK_BYTES // max(1, 3 * height * width)))


def _metadata(plan: FramePlan, backend: str) -> dict[str, Any]:
    return {
        "fps": plan.fps,
        "frames_indices": plan.indices,
        "total_num_frames": plan.total_frames,
        "video_backend": backend,
    }


def _chunked(ele: dict[str, Any], plan: FramePlan, frames: Any, s: DecodeSettings) -> torch.Tensor:
    """The plan's frames, decoded a chunk at a time into one uint8 output tensor."""
    _figures.frames_kept += plan.frames
    _figures.video_s += plan.total_frames / max(plan.fps, 1e-6)
    _figures.out_mb = max(_figures.out_mb, plan.nbytes / 2**20)
    if not kept_by_fetch_video(ele, plan, s.factor):
        full = plan.frames * 3 * plan.source[0] * plan.source[1]
        if full > FULL_RES_LIMIT:
            raise SampleError(
                "video_too_large",
                f"{plan.frames} frames at full resolution need {full / 2**30:.1f} GiB "
                f"(limit {FULL_RES_LIMIT / 2**30:.0f} GiB); split the video with `clips` "
                "or lower vision.fps / vision.max_frames",
            )
        return frames(plan.indices).cpu()  # fetch_video resizes the whole stack itself
    out = torch.empty((plan.frames, 3, plan.height, plan.width), dtype=torch.uint8)
    size = (plan.height, plan.width)
    step = chunk_frames(*plan.source)
    for i in range(0, plan.frames, step):
        chunk = frames(plan.indices[i : i + step])
        out[i : i + len(chunk)] = resize(chunk, size, s.resize).cpu()
        del chunk
    return out
