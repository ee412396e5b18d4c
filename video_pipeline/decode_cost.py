"""What decoding a video will cost, predicted from its header before any frame decodes.

A decode worker reads the sampled frames with the configured reader, then resizes them
as qwen_vl_utils does. A reader seeking to frames a second apart in GOPs of several
seconds decodes every frame between them, so the model counts every frame of the
[start, end) range, and a codec's time goes both into pixels (reconstruction) and into
bits (entropy decoding, which dominates noisy, high-bitrate video):

    cpu_s = decoded megapixels x PIXEL_S[codec] + decoded megabits x BIT_S[codec]
          + sampled megapixels (source size) x RESIZE_S_PER_MP[vision.resize] + OPEN_S

Calibrated with torchcodec on one thread of a 2-core x86_64 machine (CPU seconds,
every frame decoded, `fps: 2` sampling; testsrc2 clips made by ffmpeg with and
without `noise=alls=20:allf=t`, BENCHMARKS.md lists each):

    video (ffmpeg-made)               MP     Mbit   measured   model
    H.264 1080p30 4 s, crf 40        249        5     0.30 s   0.30 s
    H.264 1080p30 4 s, clean         249       21     0.50 s   0.47 s
    H.264 1080p30 4 s, 16 Mbit/s     249       66     1.06 s   0.95 s
    H.264 1080p30 10 s, noisy        622     1082    11.6 s    12.0 s
    HEVC 1080p30 6 s, noisy          373      112     3.46 s   3.37 s
    VP9 720p30 4 s, noisy            111      240     2.72 s   2.71 s
    AV1 720p30 4 s, noisy (dav1d)    111      159     2.21 s   2.20 s

The earlier measurements of torchcodec alone on noisy videos (1080p30 H.264 60 s:
10.4 s; 2160p30 H.264 10 s: 8.9 s; 720p30 H.264 10 min: 39.8 s; 1080p30 HEVC 30 s:
6.8 s) are what the model gives at 10.6, 61, 3.7 and 5.3 Mbit/s. The exact resize
(float bicubic with antialias at the source size) cost 0.018-0.029 s per sampled
source megapixel on those; the uint8 one about 0.001.

Memory: a decode worker that reads in chunks holds the final frames (T x 3 x h x w at
`vision.frame_dtype`) plus about 0.5 GB (decoder, one chunk at source size, the
process). A reader holding every sampled frame at source size and resizing them at
once in float32 peaked at 1.8 GB + 5.2 x those frames' uint8 bytes (3.6-12.8 GB on
the videos above); both are reported, the chunked one is checked against the budget.

Frame counts and sizes are qwen_vl_utils' own (`smart_nframes`, `smart_resize`, the
model family's patch size), so they are the ones the run produces.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from video_pipeline.config.schema import Config, VisionConfig
from video_pipeline.io.jsonl import shown

MP = 1e6
GB = 2**30

# CPU seconds per decoded megapixel and per decoded megabit, one thread. A codec not
# listed costs as the dearest one listed (most old codecs are cheaper: it errs safe).
PIXEL_S: dict[str, float] = {"h264": 0.0010, "hevc": 0.0015, "vp9": 0.0015, "av1": 0.0020}
BIT_S: dict[str, float] = {"h264": 0.0105, "hevc": 0.025, "vp9": 0.0106, "av1": 0.0125}
CODEC_NAMES = {"libdav1d": "av1", "libaom-av1": "av1", "h265": "hevc", "libvpx-vp9": "vp9"}
# CPU seconds per sampled megapixel at the source size, by `vision.resize`.
RESIZE_S_PER_MP: dict[str, float] = {"exact": 0.025, "fast": 0.0013}
OPEN_S = 0.05  # opening the container, building the decoder
CHUNKED_OVERHEAD_BYTES = int(0.5 * GB)
# The old whole-stack reader: a base and a multiple of the sampled frames' uint8 bytes.
OLD_BASE_BYTES = int(1.8 * GB)
OLD_FACTOR = 5.2


@dataclass(frozen=True)
class VideoFacts:
    """What a video's header says, as the cost model needs it."""

    codec: str
    width: int
    height: int
    duration: float  # seconds of the whole file
    fps: float
    frames: int  # of the whole file
    bit_rate: float  # bits per second of the video stream (the file's when unknown)


@dataclass(frozen=True)
class DecodeCost:
    codec: str
    source: str  # "1920x1080"
    decoded_frames: int  # every frame of the range
    sampled_frames: int
    frame_size: str  # "364x672": h x w the model gets
    frames_capped: bool  # fps x duration asked for more frames than max_frames allows
    cpu_s: float
    peak_mb: float  # chunked reader: final frames + a constant
    peak_mb_whole: float  # a reader holding every sampled frame at source size

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def video_facts(location: str) -> VideoFacts:
    """Codec, size, duration and frame rate from the container (one header read and
    a check of the last packets, as `clips.probe` does); SampleError when unreadable."""
    import av

    from video_pipeline.clips.probe import probe_video

    probe = probe_video(location)
    with av.open(location, metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        width, height = stream.codec_context.width, stream.codec_context.height
        bit_rate = stream.bit_rate or container.bit_rate or 0
    fps = probe.fps or 30.0
    frames = probe.frames or max(1, round(probe.duration * fps))
    if not bit_rate and probe.duration > 0 and os.path.isfile(location):
        bit_rate = os.path.getsize(location) * 8 / probe.duration
    return VideoFacts(
        CODEC_NAMES.get(codec, codec), width, height, probe.duration, fps, frames, float(bit_rate)
    )


def predict(
    facts: VideoFacts,
    vision: VisionConfig,
    patch_size: int,
    start: float | None = None,
    end: float | None = None,
) -> DecodeCost:
    """The decode of `facts`' video (or its [start, end] clip) under `vision`, for a
    model family of `patch_size` (frame sides are multiples of patch_size x 2, as the
    dataset's `decode_vision` asks qwen_vl_utils for)."""
    from qwen_vl_utils.vision_process import (
        FRAME_FACTOR,
        SPATIAL_MERGE_SIZE,
        VIDEO_MAX_TOKEN_NUM,
        VIDEO_MIN_TOKEN_NUM,
        calculate_video_frame_range,
        smart_nframes,
        smart_resize,
    )

    ele: dict[str, Any] = vision.video_element()
    if start is not None:
        ele["video_start"] = start
    if end is not None:
        ele["video_end"] = end
    _first, _last, in_range = calculate_video_frame_range(ele, facts.frames, facts.fps)
    nframes = smart_nframes(ele, total_frames=in_range, video_fps=facts.fps)
    wanted = in_range / facts.fps * float(ele.get("fps", 2.0)) if "nframes" not in ele else 0
    capped = wanted > nframes + FRAME_FACTOR  # max_frames (768 by default) cut the rate
    factor = patch_size * SPATIAL_MERGE_SIZE  # fetch_video's own bounds from here on
    min_pixels = ele.get("min_pixels", VIDEO_MIN_TOKEN_NUM * factor * factor)
    total_pixels = ele.get("total_pixels", 128000 * factor * factor * 0.9)
    max_pixels = max(
        min(VIDEO_MAX_TOKEN_NUM * factor * factor, total_pixels / nframes * FRAME_FACTOR),
        int(min_pixels * 1.05),
    )
    max_pixels = min(ele.get("max_pixels", max_pixels), max_pixels)
    h, w = smart_resize(
        facts.height, facts.width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels
    )
    source_mp = facts.width * facts.height / MP
    resize = RESIZE_S_PER_MP.get(str(getattr(vision, "resize", "exact")), RESIZE_S_PER_MP["exact"])
    cpu_s = decode_s(facts, in_range) + nframes * source_mp * resize + OPEN_S
    itemsize = 1 if vision.frame_dtype == "uint8" else 4
    final = nframes * 3 * h * w * itemsize
    whole = OLD_BASE_BYTES + OLD_FACTOR * nframes * 3 * facts.width * facts.height
    return DecodeCost(
        codec=facts.codec,
        source=f"{facts.width}x{facts.height}",
        decoded_frames=in_range,
        sampled_frames=nframes,
        frame_size=f"{h}x{w}",
        frames_capped=bool(capped),
        cpu_s=round(cpu_s, 3),
        peak_mb=round((final + CHUNKED_OVERHEAD_BYTES) / 2**20, 1),
        peak_mb_whole=round(whole / 2**20, 1),
    )


def decode_s(facts: VideoFacts, frames: int) -> float:
    """CPU seconds the codec spends on `frames` consecutive frames (one thread)."""
    per_mp = PIXEL_S.get(facts.codec, max(PIXEL_S.values()))
    per_mbit = BIT_S.get(facts.codec, max(BIT_S.values()))
    mbit = facts.bit_rate * frames / facts.fps / MP
    return frames * facts.width * facts.height / MP * per_mp + mbit * per_mbit


def cores_per_gpu(mean_cpu_s: float, videos_per_gpu_hour: float) -> float:
    """Host cores one GPU needs for decoding alone to keep up with the engine."""
    return mean_cpu_s * videos_per_gpu_hour / 3600


def worker_budget_mb(host_memory_mb: float, ranks_per_node: int, num_workers: int) -> float:
    """A decode worker's share of the node's memory: the node's decode workers
    (`ranks_per_node` x `data.num_workers`, at least one each) split it evenly."""
    return host_memory_mb / max(1, ranks_per_node) / max(1, num_workers)


VIDEOS_PER_GPU_HOUR = 780.0  # preflight's default engine rate; `bench` measures yours


@dataclass
class DecodePlan:
    """The node a run's decode workers share, for the budgets preflight checks."""

    videos_per_gpu_hour: float = VIDEOS_PER_GPU_HOUR
    host_memory_mb: float | None = None  # None: this machine's memory
    ranks_per_node: int = 1  # GPUs per node / vllm.tensor_parallel_size

    def memory_mb(self) -> float:
        if self.host_memory_mb is not None:
            return self.host_memory_mb
        import psutil

        return psutil.virtual_memory().total / 2**20


class DecodeCosts:
    """Predictions for a config's rows, one at a time, and the collection's totals."""

    def __init__(self, cfg: Config, patch_size: int, plan: DecodePlan) -> None:
        self.cfg = cfg
        self.patch_size = patch_size
        self.plan = plan
        self.budget_mb = worker_budget_mb(
            plan.memory_mb(), plan.ranks_per_node, cfg.data.num_workers
        )
        self.warnings: list[dict[str, Any]] = []
        self.n = self.not_predicted = self.over_timeout = self.over_memory = self.capped = 0
        self.cpu_s = self.max_cpu_s = self.max_peak_mb = self.max_whole_mb = 0.0
        self.measured_s = self.measured_predicted_s = 0.0
        self._facts: tuple[str, VideoFacts] | None = None  # clips of one video follow each other

    def add(self, probe: dict[str, Any]) -> None:
        """Predict the decode of a preflight probe's video (sets `probe["predicted"]`)."""
        video = probe.get("video")
        if not video:
            return
        try:
            cost = self._predict(video)
        except Exception as e:  # a missing, remote or unreadable file: the probe says why
            probe["predicted"] = {"error": f"{type(e).__name__}: {e}"[:300]}
            self.not_predicted += 1
            return
        probe["predicted"] = cost.to_dict()
        self.n += 1
        self.cpu_s += cost.cpu_s
        self.max_cpu_s = max(self.max_cpu_s, cost.cpu_s)
        self.max_peak_mb = max(self.max_peak_mb, cost.peak_mb)
        self.max_whole_mb = max(self.max_whole_mb, cost.peak_mb_whole)
        if probe.get("status") != "error":
            self.measured_s += probe.get("decode_s") or 0.0
            self.measured_predicted_s += cost.cpu_s
        why = []
        timeout = self.cfg.run.decode_timeout_s
        if timeout is not None and cost.cpu_s > timeout:
            self.over_timeout += 1
            why.append(f"decode ~{cost.cpu_s:.0f} CPU-s > run.decode_timeout_s={timeout:g}")
        if cost.peak_mb > self.budget_mb:
            self.over_memory += 1
            why.append(f"decode ~{cost.peak_mb:.0f} MB > worker budget {self.budget_mb:.0f} MB")
        if cost.frames_capped:
            self.capped += 1
            if not self.cfg.clips.enabled:
                why.append(f"{cost.sampled_frames} frames cover it, fewer than vision.fps asks")
        if why:
            clips = not self.cfg.clips.enabled
            self.warnings.append(
                {
                    "key": probe.get("key"),
                    "why": why,
                    "suggest": "clips.mode: fixed (see Long videos: clips)" if clips else None,
                    **cost.to_dict(),
                }
            )

    def _predict(self, video: dict[str, Any]) -> DecodeCost:
        from video_pipeline.clips.probe import video_location
        from video_pipeline.storage.urls import is_remote

        location = video_location(video.get("value"), self.cfg.data.video_dir)
        if is_remote(location):  # its header would be one more fetch outside the cache
            raise ValueError("a remote video (headers are read from local files only)")
        if self._facts is None or self._facts[0] != location:
            self._facts = (location, video_facts(location))
        start, end = video.get("start"), video.get("end")
        number = (int, float)
        return predict(
            self._facts[1],
            self.cfg.vision,
            self.patch_size,
            float(start) if isinstance(start, number) else None,
            float(end) if isinstance(end, number) else None,
        )

    def summary(self) -> dict[str, Any]:
        mean = self.cpu_s / self.n if self.n else 0.0
        rate = self.plan.videos_per_gpu_hour
        return {
            "videos": self.n,
            "not_predicted": self.not_predicted,
            "cpu_s_total": round(self.cpu_s, 1),
            "cpu_s_mean": round(mean, 3),
            "cpu_s_max": round(self.max_cpu_s, 3),
            "peak_mb_max": self.max_peak_mb,
            "peak_mb_whole_max": self.max_whole_mb,
            "worker_budget_mb": round(self.budget_mb, 1),
            "decode_timeout_s": self.cfg.run.decode_timeout_s,
            "over_timeout": self.over_timeout,
            "over_memory": self.over_memory,
            "frames_capped": self.capped,
            "videos_per_gpu_hour": rate,
            "cores_per_gpu": round(cores_per_gpu(mean, rate), 2),
            # this preflight's own decodes (wall seconds, its workers' threads) / predicted
            "measured_over_predicted": round(self.measured_s / self.measured_predicted_s, 3)
            if self.measured_predicted_s
            else None,
        }


def decode_lines(d: dict[str, Any], warnings: list[dict[str, Any]]) -> list[str]:
    """The preflight summary's lines about decoding."""
    lines = [
        f"  decode (predicted, one thread): {d['cpu_s_total']:.4g} CPU-s for {d['videos']} "
        f"videos, mean {d['cpu_s_mean']:.3g} s, max {d['cpu_s_max']:.3g} s; peak memory "
        f"per worker up to {d['peak_mb_max']:.0f} MB (a whole-video reader: "
        f"{d['peak_mb_whole_max']:.0f} MB)",
        f"  host cores per GPU for decoding at {d['videos_per_gpu_hour']:g} videos/GPU-hour: "
        f"{d['cores_per_gpu']:.3g}",
        f"  over run.decode_timeout_s ({d['decode_timeout_s']}): {d['over_timeout']}   over "
        f"a worker's memory ({d['worker_budget_mb']:.0f} MB): {d['over_memory']}   "
        f"frames capped: {d['frames_capped']}   not predicted: {d['not_predicted']}",
    ]
    if d["measured_over_predicted"] is not None:
        lines.append(
            f"  this preflight's decodes took {d['measured_over_predicted']:g}x the prediction"
        )
    for w in warnings[:20]:
        hint = f" -> {w['suggest']}" if w["suggest"] else ""
        lines.append(f"    {shown(str(w['key']))}: {'; '.join(w['why'])}{hint}")
    return lines
