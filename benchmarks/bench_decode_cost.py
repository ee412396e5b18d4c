"""Decode cost model: torchcodec's CPU seconds on ffmpeg-made videos vs the prediction.

Encodes `testsrc2` clips (with `noise=alls=20:allf=t`, as real camera video is noisy)
in H.264 at three bitrates, HEVC, VP9 and AV1, then decodes each with torchcodec on
one thread, every frame read as a `fps: 2` sampling through long GOPs reads them, and
compares the CPU seconds with `decode_cost.decode_s` for the same header.

Reported: measured / predicted per video (goal about 1), and their spread.

    python benchmarks/bench_decode_cost.py [--seconds 4] [--smoke]
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import benchlib

NOISE = ",noise=alls=20:allf=t"
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-g", "250"]
# name, size, filter tail, encoder args (GOPs of several seconds, as cameras write)
CASES = [
    ("h264_crf40", "1920x1080", NOISE, [*X264, "-crf", "40"]),
    ("h264_clean", "1920x1080", "", X264),
    ("h264_noisy", "1920x1080", NOISE, X264),
    (
        "hevc_noisy",
        "1920x1080",
        NOISE,
        ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error"],
    ),
    (
        "vp9_noisy",
        "1280x720",
        NOISE,
        ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"],
    ),
    ("av1_noisy", "1280x720", NOISE, ["-c:v", "libsvtav1", "-preset", "12"]),
]


def encode(
    work: Path, name: str, size: str, tail: str, codec: list[str], seconds: float
) -> Path | None:
    ext = ".webm" if "vp9" in name else ".mp4"
    path = work / f"decode_cost_{name}_{size}_{seconds:g}s{ext}"
    if path.exists():
        return path
    src = f"testsrc2=size={size}:rate=30{tail}"
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", src, "-t", f"{seconds:g}"]
    cmd += [*codec, "-pix_fmt", "yuv420p", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return path if proc.returncode == 0 and path.exists() else None  # encoder missing


def decode_cpu_s(path: Path, fps: float) -> float:
    import torch
    from torchcodec.decoders import VideoDecoder

    torch.set_num_threads(1)
    c0 = time.process_time()
    d = VideoDecoder(str(path), num_ffmpeg_threads=1)
    n = d.metadata.num_frames
    d.get_frames_at(indices=list(range(0, n, max(1, round(fps / 2)))))
    return time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    from video_pipeline.decode_cost import decode_s, video_facts

    p = benchlib.parser(__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=4.0, help="length of each video")
    args = p.parse_args(argv)
    seconds = 1.0 if args.smoke else args.seconds
    repeat = 1 if args.smoke else args.repeat
    cases = CASES[:2] if args.smoke else CASES
    if shutil.which("ffmpeg") is None:
        raise SystemExit("needs the ffmpeg command")
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, size, tail, codec in cases:
        path = encode(args.work, name, size, tail, codec, seconds)
        if path is None:
            rows.append({"video": name, "skipped": "encoder not available"})
            continue
        facts = video_facts(str(path))
        measured = min(decode_cpu_s(path, facts.fps) for _ in range(max(1, repeat)))
        predicted = decode_s(facts, facts.frames)
        rows.append(
            {
                "video": name,
                "codec": facts.codec,
                "size": size,
                "mbit_s": round(facts.bit_rate / 1e6, 2),
                "frames": facts.frames,
                "measured_cpu_s": round(measured, 3),
                "predicted_cpu_s": round(predicted, 3),
                "measured_over_predicted": benchlib.ratio(measured, predicted),
            }
        )
    ratios = [r["measured_over_predicted"] for r in rows if "measured_over_predicted" in r]
    result = {"videos": len(rows), "seconds": seconds, "rows": rows}
    line = ", ".join(
        f"{r['video']} x{r['measured_over_predicted']}" for r in rows if "measured_cpu_s" in r
    )
    line = f"measured / predicted decode CPU-s: {line} (range {min(ratios)}-{max(ratios)})"
    benchlib.save("decode_cost", result, args.out, line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
