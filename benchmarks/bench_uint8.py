"""(2) uint8 frames out of the workers: bytes saved, and whether answers change.

The same videos are decoded by the dataset with `vision.frame_dtype` float32 (the
seed's frames, as qwen_vl_utils returns them) and uint8 (rounded and clamped in the
worker), under two vision settings: frames smaller than the model processor's own
minimum frame size and frames at that size (the pipeline tells the processor not to
resize, `do_resize: False`; were it to resize, it would round uint8 results and not
float ones, and small frames would differ). For each:

- whether every float32 frame holds whole values in 0-255 (the cast loses nothing);
- the processor's `input_ids` and `pixel_values_videos` for both (differences in 0-255
  levels);
- prompt token ids and generated token ids from the engine at temperature 0;
- bytes per video, and the time to move decoded samples out of a decode worker
  (one worker, samples already decoded and cached, so only the transfer is timed).

    python benchmarks/bench_uint8.py [--size 16] [--smoke]
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import benchlib
import enginebench


class _Cached:
    """A dataset serving already decoded items: a decode feed over it times the transfer."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.items[i]


def transfer_s(items: list[dict[str, Any]], rounds: int) -> float:
    from video_pipeline.runner.feed import END, DecodeFeed

    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        feed = DecodeFeed(_Cached(items), workers=1, timeout_s=None, maxsize=4)
        while feed.get(block=True) is not END:
            pass
        feed.close()
        best = min(best, time.perf_counter() - t0)
    return best


PROCESSOR_MIN_PIXELS = 128 * 28 * 28  # Qwen2VLVideoProcessor's default minimum frame size


def processor_diff(processor: Any, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """How far the processor's pixel values for two versions of one sample are apart,
    in 0-255 levels (normalised differences times std * 255)."""
    import torch

    def run(item: dict[str, Any]) -> Any:
        llm_input = item["llm_input"]
        video, meta = llm_input["multi_modal_data"]["video"][0]
        return processor(
            text=[llm_input["prompt"]],
            videos=[video],
            video_metadata=[meta],
            return_tensors="pt",
            **llm_input["mm_processor_kwargs"],
        )

    pa, pb = run(a), run(b)
    std = max(processor.video_processor.image_std)
    d = (pa["pixel_values_videos"] - pb["pixel_values_videos"]).abs() * std * 255
    return {
        "input_ids_equal": bool(torch.equal(pa["input_ids"], pb["input_ids"])),
        "max_levels": float(d.max()),
        "mean_levels": float(d.mean()),
    }


def frames(item: dict[str, Any]) -> Any:
    return item["llm_input"]["multi_modal_data"]["video"][0][0]


def main(argv: list[str] | None = None) -> int:
    p = benchlib.parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=16, help="videos")
    p.add_argument("--max-tokens", type=int, default=16)
    args = p.parse_args(argv)
    size = 4 if args.smoke else args.size
    repeat = 1 if args.smoke else args.repeat
    benchlib.engine_env()

    import torch
    from transformers import AutoProcessor

    from video_pipeline.data.dataset_qwen_video import QwenVideoDataset
    from video_pipeline.data.samples import SampleSource
    from video_pipeline.data.video_reader import install_reader
    from video_pipeline.engine.vllm_engine import build_llm, build_sampling_params
    from video_pipeline.io.jsonl import InputIndex
    from video_pipeline.tasks.registry import get_task_class

    model = benchlib.tiny_model(args.work)
    videos = benchlib.video_input(args.work, size)
    s = enginebench.spec(model, videos, [], max_tokens=args.max_tokens)
    enginebench._register()
    cfg = enginebench._config(s, Path("/nonexistent"), gated=False)
    install_reader(cfg.vision.reader)
    processor = AutoProcessor.from_pretrained(str(model))
    task = get_task_class("describe")()
    index = InputIndex.build(videos, "path", None)
    samples = SampleSource(index, range(len(index)), "path", None)

    profiles = {
        # the test settings: 84x112 frames, below the processor's own minimum frame size
        "small_frames": dict(enginebench.VISION),
        # frames at the processor's minimum size, which it would keep even if it resized
        "large_frames": {"min_pixels": PROCESSOR_MIN_PIXELS, "fps": 2},
    }
    decoded: dict[str, dict[str, list[dict[str, Any]]]] = {}
    report: dict[str, Any] = {}
    for name, vision_keys in profiles.items():
        decoded[name] = {}
        for dtype in ("float32", "uint8"):
            vision = cfg.vision.model_copy(
                update={
                    "frame_dtype": dtype,
                    "total_pixels": vision_keys.get("total_pixels"),
                    "min_pixels": vision_keys.get("min_pixels"),
                }
            )
            ds = QwenVideoDataset(samples, task, processor, vision)
            decoded[name][dtype] = items = [ds[i] for i in range(len(ds))]
            bad = [it for it in items if "error" in it]
            if bad:
                raise SystemExit(f"decode failed: {bad[0]['error']}")
        f32, u8 = decoded[name]["float32"], decoded[name]["uint8"]
        whole = all(
            bool(torch.equal(frames(it), frames(it).round()))
            and float(frames(it).min()) >= 0
            and float(frames(it).max()) <= 255
            for it in f32
        )
        same_values = all(
            torch.equal(frames(a).to(torch.uint8), frames(b)) for a, b in zip(f32, u8, strict=True)
        )
        bytes_f32 = sum(frames(it).numel() * frames(it).element_size() for it in f32)
        bytes_u8 = sum(frames(it).numel() * frames(it).element_size() for it in u8)
        diffs = [processor_diff(processor, a, b) for a, b in zip(f32, u8, strict=True)]
        rounds = max(repeat, 1)
        transfer = {"float32": transfer_s(f32, rounds), "uint8": transfer_s(u8, rounds)}
        report[name] = {
            "vision": vision_keys,
            "frame_shape": list(frames(f32[0]).shape),
            "float32_frames_whole_0_255": whole,
            "uint8_same_pixel_values": same_values,
            "processor_input_ids_identical": all(d["input_ids_equal"] for d in diffs),
            "processor_pixels_identical": all(d["max_levels"] == 0 for d in diffs),
            "processor_max_diff_levels": max(d["max_levels"] for d in diffs),
            "processor_mean_diff_levels": sum(d["mean_levels"] for d in diffs) / len(diffs),
            "bytes_per_video": {"float32": bytes_f32 / size, "uint8": bytes_u8 / size},
            "bytes_ratio": benchlib.ratio(bytes_f32, bytes_u8),
            "transfer_s": transfer,
            "transfer_ratio": benchlib.ratio(transfer["float32"], transfer["uint8"]),
        }

    llm = build_llm(cfg.vllm)  # after the decode workers above: fork before the engine
    params = build_sampling_params(cfg.sampling, task)
    for name, by_dtype in decoded.items():
        outs = {
            dtype: llm.generate([it["llm_input"] for it in items], params, use_tqdm=False)
            for dtype, items in by_dtype.items()
        }
        pairs = list(zip(outs["float32"], outs["uint8"], strict=True))
        report[name]["prompt_token_ids_identical"] = all(
            list(a.prompt_token_ids) == list(b.prompt_token_ids) for a, b in pairs
        )
        report[name]["output_token_ids_identical_temperature_0"] = all(
            list(a.outputs[0].token_ids) == list(b.outputs[0].token_ids) for a, b in pairs
        )
    result = {"videos": size, "max_tokens": args.max_tokens, "profiles": report}
    small, large = report["small_frames"], report["large_frames"]
    line = (
        f"{size} videos: bytes x{large['bytes_ratio']}; large frames: pixels identical "
        f"{large['processor_pixels_identical']}, outputs identical "
        f"{large['output_token_ids_identical_temperature_0']}; small frames: max diff "
        f"{small['processor_max_diff_levels']:.1f} levels (mean "
        f"{small['processor_mean_diff_levels']:.3f}), outputs identical "
        f"{small['output_token_ids_identical_temperature_0']}; worker transfer "
        f"x{large['transfer_ratio']} faster"
    )
    benchlib.save("uint8", result, args.out, line)
    exact = all(
        r["uint8_same_pixel_values"] and r["processor_pixels_identical"] for r in report.values()
    )
    return 0 if exact else 1  # uint8 is the default because it changes no pixel value


if __name__ == "__main__":
    raise SystemExit(main())
