"""CPU vs CUDA decoding of the same sampled frames (`vision.decode_device`), standalone.

Needs only torch and torchcodec (a CUDA build of it, with FFmpeg's libraries) and the
`ffmpeg` command to write the test video; none of the pipeline. It writes a 1080p30
H.264 video (testsrc2 with noise), samples frames as qwen_vl_utils does at fps 2,
decodes them in chunks of 8 on the CPU (one FFmpeg thread, and all cores) and with
torchcodec's CUDA decoder, resizes each chunk to 364x672 (bicubic, antialias) where it
was decoded, and reports wall seconds, CPU seconds of this process, and how far the
CUDA frames are from the CPU ones (NVDEC's colour conversion is its own).

    python benchmarks/gpu/decode_gpu.py [--seconds 60] [--video PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import torch

CHUNK = 8
SIZE = (364, 672)  # what fetch_video gives 120 frames of 1080p for Qwen2.5-VL


def make_video(path: Path, seconds: int) -> Path:
    graph = "testsrc2=size=1920x1080:rate=30,noise=alls=12:allf=t+u"
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", graph, "-t", str(seconds)]
    cmd += ["-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast", str(path)]
    subprocess.run(cmd, check=True)
    return path


def resize(frames: torch.Tensor) -> torch.Tensor:
    out = torch.nn.functional.interpolate(frames.float(), size=SIZE, mode="bicubic", antialias=True)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def decode(video: Path, device: str, threads: int) -> dict:
    from torchcodec.decoders import VideoDecoder

    t0, c0 = time.perf_counter(), time.process_time()
    decoder = VideoDecoder(str(video), num_ffmpeg_threads=threads, device=device)
    m = decoder.metadata
    n = int(m.num_frames / m.average_fps * 2) // 2 * 2  # fps 2, as qwen_vl_utils samples
    idx = torch.linspace(0, m.num_frames - 1, n).round().long().tolist()
    out = torch.empty((n, 3, *SIZE), dtype=torch.uint8)
    for i in range(0, n, CHUNK):
        chunk = decoder.get_frames_at(indices=idx[i : i + CHUNK]).data
        out[i : i + len(chunk)] = resize(chunk).cpu()
    if device == "cuda":
        torch.cuda.synchronize()
    return {
        "out": out,
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
        "frames": n,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--video", type=Path, default=None, help="decode this video instead")
    args = p.parse_args()
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video or make_video(Path(tmp) / "v.mp4", args.seconds)
        decode(video, "cuda", 1)  # warm-up: CUDA context and NVDEC start-up
        runs = {
            "cpu_1_thread": decode(video, "cpu", 1),
            "cpu_all_threads": decode(video, "cpu", 0),
            "cuda": decode(video, "cuda", 1),
        }
    ref = runs["cpu_1_thread"]["out"].int()
    diff = (runs["cuda"]["out"].int() - ref).abs()
    mse = (diff.float() ** 2).mean().item()
    report = {
        "video_s": args.seconds,
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        **{k: {x: round(v[x], 3) for x in ("wall_s", "cpu_s")} for k, v in runs.items()},
        "frames": runs["cuda"]["frames"],
        "cuda_vs_cpu_max_abs_diff": int(diff.max()),
        "cuda_vs_cpu_psnr_db": round(10 * torch.log10(torch.tensor(255**2 / mse)).item(), 2)
        if mse
        else None,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
