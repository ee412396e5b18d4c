"""A video's soundtrack beside its frames: what decoding it costs, and what one decode saves.

Videos from fixtures/real_videos.py (busy sources with noise, x264 `veryfast`) with an
ordinary soundtrack muxed in (`audio=True`: AAC stereo 48 kHz, 128 kb/s). Each mode runs
in a fresh single-threaded process (`TORCHCODEC_NUM_THREADS=1`, one torch thread), as
bench_decode_real.py's do; CPU seconds are the process's own, peak RSS the growth of
`ru_maxrss` over its start (modules imported, clocks not started):

  frames   the frames at 2 fps through the project's path (bench_decode_real's `exact`:
           the chunked reader, uint8): the baseline
  audio30  `load_audio(path, 0, 30)`: what Qwen2.5-Omni hears with the frames
  audio    `load_audio(path)`: the whole track, what a transcription needs (decoded
           30 s at a time into one buffer, audio.CHUNK_S)
  windows  `list(windows(load_audio(path), 30))`: the same cut into a transcription's
           requests (views, no copy)
  once     frames and the whole track in one process, the first 30 s sliced from it

Reported per video: min / median / max over the repeats, ratios audio / frames,
audio30 / frames, windows / audio, and the CPU seconds of three tasks (video-only:
frames; audio-visual: frames + audio30; transcription: the whole track) decoded
separately against once (frames + the whole track), from the medians, beside `once`
measured.

    python benchmarks/bench_audio_decode.py [--smoke] [--only NAME ...]
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import benchlib

# (name, seconds, width, height); H.264 at 30 fps. Videos longer than SEGMENT seconds are
# one SEGMENT encoded and repeated by stream copy (fixtures/real_videos.py).
VIDEOS = [
    ("1080p30-h264-60s-aac", 60, 1920, 1080),
    ("360p30-h264-10min-aac", 600, 640, 360),
]
SMOKE = [("240p30-h264-4s-aac", 4, 320, 240)]
SEGMENT = 60.0
MODES = ["frames", "audio30", "audio", "windows", "once"]
WINDOW_S = 30.0


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, video: str) -> dict[str, Any]:
    """One mode on one video in this (fresh) process."""
    if mode == "frames":
        import bench_decode_real

        return bench_decode_real.child("exact", video)
    import torch

    torch.set_num_threads(1)
    import av  # noqa: F401  (audio_info's; imported before the clocks start)
    import torchcodec.decoders  # noqa: F401

    from video_pipeline.data.audio import SAMPLE_RATE, load_audio, windows

    out: dict[str, Any] = {}
    if mode == "once":  # the frames first, as a worker decoding both would
        import bench_decode_real

        out = bench_decode_real.child("exact", video)
    start_rss, c0 = _maxrss_mib(), time.process_time()
    if mode == "audio30":
        tracks = [load_audio(video, 0, WINDOW_S)]
    elif mode in ("audio", "once"):
        tracks = [load_audio(video)]
        if mode == "once":  # what the audio-visual task hears, no second decode
            heard = tracks[0].samples[: int(WINDOW_S * SAMPLE_RATE)]
            out["audio30_s"] = len(heard) / SAMPLE_RATE
    else:
        tracks = list(windows(load_audio(video), WINDOW_S))
    cpu = time.process_time() - c0
    rss = _maxrss_mib() - start_rss
    assert all(t is not None for t in tracks), f"{video} has no audio"
    audio = {
        "audio_s": sum(t.seconds for t in tracks),  # type: ignore[union-attr]
        "audio_mib": sum(t.samples.nbytes for t in tracks) / 2**20,  # type: ignore[union-attr]
        "pieces": len(tracks),
    }
    if mode == "once":  # the frames' process figures plus the track's
        return {
            **out,
            **audio,
            "cpu_s": out["cpu_s"] + cpu,
            "frames_cpu_s": out["cpu_s"],
            # ru_maxrss is the process's peak: the frames' peak, raised if the track's is higher
            "peak_rss_mib": out["peak_rss_mib"] + rss,
        }
    return {"cpu_s": cpu, "peak_rss_mib": rss, **audio}


def run_child(mode: str, video: Path) -> dict[str, Any]:
    return benchlib.child(__file__, mode, str(video), single_thread=True)


def spread(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 4),
        "median": round(statistics.median(values), 4),
        "max": round(max(values), 4),
    }


def measure(video: Path, repeat: int) -> dict[str, Any]:
    """Every mode `repeat` times, interleaved (frames, audio30, ..., frames, ...) so that
    a change in the machine's load falls on every mode alike."""
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
    for _ in range(repeat):
        for mode in MODES:
            runs[mode].append(run_child(mode, video))
    result: dict[str, Any] = {}
    for mode, rs in runs.items():
        cpu = [r["cpu_s"] for r in rs]
        result[mode] = {
            "cpu_s": spread(cpu),
            "peak_rss_mib": spread([r["peak_rss_mib"] for r in rs]),
            "runs": rs,
        }
    med = {m: result[m]["cpu_s"]["median"] for m in MODES}
    f, a30, a = med["frames"], med["audio30"], med["audio"]
    separately = f + (f + a30) + a  # video-only, audio-visual, transcription
    once = f + a  # the frames and the whole track; audio30 sliced from it
    result["ratios"] = {
        "audio_over_frames": benchlib.ratio(a, f),
        "audio30_over_frames": benchlib.ratio(a30, f),
        "windows_over_audio": benchlib.ratio(med["windows"], a),
        "once_measured_over_frames_plus_audio": benchlib.ratio(med["once"], once),
    }
    result["three_tasks"] = {
        "separately_cpu_s": round(separately, 3),
        "once_cpu_s": round(once, 3),
        "once_over_separately": benchlib.ratio(once, separately),
        "once_measured_over_separately": benchlib.ratio(med["once"], separately),
    }
    return result


def make(folder: Path, name: str, seconds: float, w: int, h: int) -> Path:
    from video_pipeline.fixtures.real_videos import make_real_video

    path = folder / f"{name}.mp4"
    if not path.exists():
        t0 = time.perf_counter()
        part = path.with_suffix(".part.mp4")
        make_real_video(part, seconds, w, h, segment=SEGMENT, audio=True).rename(path)
        print(f"generated {name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return path


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3])))
        return
    p = benchlib.parser(__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", help="names of the videos to run")
    args = p.parse_args()
    videos = SMOKE if args.smoke else VIDEOS
    if args.only:
        videos = [v for v in videos if v[0] in args.only]
    repeat = 1 if args.smoke else args.repeat
    results: dict[str, Any] = {}
    for name, seconds, w, h in videos:
        path = make(args.work / "av-videos", name, seconds, w, h)
        results[name] = {"seconds": seconds, "size": [w, h], **measure(path, repeat)}
        print(json.dumps({name: results[name]["three_tasks"]}), file=sys.stderr)
    assert results, "no video ran"
    line = ", ".join(
        f"{n}: audio/frames {r['ratios']['audio_over_frames']}, "
        f"once/separately {r['three_tasks']['once_over_separately']}"
        for n, r in results.items()
    )
    payload = {"videos": results, "repeat": repeat, "window_s": WINDOW_S}
    benchlib.save("audio_decode", payload, args.out, line)


if __name__ == "__main__":
    main()
