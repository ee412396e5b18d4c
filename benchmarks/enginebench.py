"""Timed runs of the real engine: the pipeline, the seed's naive loop, the engine alone.

One measurement is one subprocess (`python benchmarks/enginebench.py --child spec.json`)
that builds one in-process vLLM engine and uses it for every variant it runs, in this
order (decode workers must be forked before the engine exists):

- `pipeline`: `run_rank` as a rank runs it (decode workers decode, a bounded window
  of requests is kept in the engine). Workers are forked and held at a gate while the
  engine builds and warms up; the clock starts when the gate opens, so no variant gets
  decoding done for free during engine start-up, and engine start-up is not counted.
- `naive`: the seed's loop on the same engine: DataLoader with num_workers 0 and
  batch_size 2, one blocking `LLM.generate` per batch, outputs appended to a JSONL.
- `engine_only`: every input decoded and rendered beforehand (untimed), then all added
  and stepped to the end with `video_pipeline.bench.engine_alone`, the measurement
  `bench` makes: the engine's own throughput, the pipeline's upper bound.
- `engine_only_loaded`: the same, while another process on the decode
  cores decodes every video once (the decode work a pipeline run does). On a machine
  whose cores share a physical core or its caches, decoding slows the engine even on
  another core; this is the bound such a machine allows.

All variants use the same videos, model, vision settings and sampling (temperature 0,
`ignore_eos`, so every answer has exactly `max_tokens` tokens). Prefix caching and
vLLM's multimodal processor cache are off: the variants see the same videos one after
the other, and a cache would hand the later ones work done by the earlier ones. The
engine runs on core 0 (`VLLM_CPU_OMP_THREADS_BIND`, `OMP_NUM_THREADS`) and the
pipeline's decode workers on the other cores, so that decoders do not preempt the
engine's threads (on a GPU machine they do not compete at all)."""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib

VISION = {"total_pixels": 50176, "min_pixels": 3136, "fps": 2}
_GATE = multiprocessing.Event()  # created before any fork, so workers share it


def spec(
    model: Path,
    input_jsonl: Path,
    variants: list[str],
    max_tokens: int = 16,
    workers: int = 2,
    batch_size: int = 2,
    extra_decode_s: float = 0.0,
    engine_cores: str | None = "0",
    max_in_flight: int | None = None,
    slow_index: int | None = None,
    slow_s: float = 0.0,
    vision: dict[str, Any] | None = None,
    max_in_flight_mb: float | None = 4096.0,
) -> dict[str, Any]:
    return {
        "vision": vision or VISION,
        "max_in_flight_mb": max_in_flight_mb,
        "slow_index": slow_index,
        "slow_s": slow_s,
        "max_in_flight": max_in_flight,
        "engine_cores": engine_cores,
        "model": str(model),
        "input_jsonl": str(input_jsonl),
        "variants": variants,
        "max_tokens": max_tokens,
        "workers": workers,
        "batch_size": batch_size,
        "extra_decode_s": extra_decode_s,
    }


def run(s: dict[str, Any], script: str | Path | None = None) -> dict[str, Any]:
    """Run one measurement in a fresh process; returns its timings.

    `script` is a benchmark with a child of its own (`script --child spec.json`, printing
    its result as the last line of JSON); by default this module's `child`.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(s, f)
    proc = subprocess.run(
        [sys.executable, str(script or __file__), "--child", f.name],
        capture_output=True,
        text=True,
        check=False,
    )
    Path(f.name).unlink(missing_ok=True)
    if proc.returncode != 0:
        raise SystemExit(f"engine run failed ({s['variants']}):\n{proc.stderr[-6000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _register() -> None:
    """A dataset that waits at the gate and can be slowed, and a task that uses it."""
    from video_pipeline.data.dataset_qwen_video import QwenVideoDataset
    from video_pipeline.data.registry import register_dataset
    from video_pipeline.runner.feed import in_decode_worker
    from video_pipeline.tasks.describe import DescribeTask
    from video_pipeline.tasks.registry import register_task

    @register_dataset("bench_video")
    class BenchDataset(QwenVideoDataset):
        def __getitem__(self, i: int) -> dict[str, Any]:
            if self.params.get("gated"):
                _GATE.wait()
            decode_cores = self.params.get("decode_cores")
            if decode_cores and in_decode_worker():
                os.sched_setaffinity(0, decode_cores)  # a worker: off the engine's core
            t0 = time.perf_counter()
            item = super().__getitem__(i)
            extra = float(self.params.get("extra_decode_s", 0.0))
            if i == self.params.get("slow_index"):  # one video far slower than the rest
                extra += float(self.params.get("slow_s", 0.0))
            if extra:  # a slower decoder: sleeping holds neither the GIL nor a core
                time.sleep(extra)
            item["decode_s"] = time.perf_counter() - t0
            return item

    @register_task
    class BenchDescribe(DescribeTask):
        name = "bench_describe"
        dataset_name = "bench_video"


def _config(s: dict[str, Any], out_dir: Path, gated: bool) -> Any:
    from video_pipeline.config import load_config

    return load_config(data=config_dict(s, out_dir, gated))


def config_dict(s: dict[str, Any], out_dir: Path, gated: bool) -> dict[str, Any]:
    """The measurement's config as a mapping, for scripts that change a setting or two."""
    return {
        "data": {
            "input_jsonl": s["input_jsonl"],
            "output_jsonl": str(out_dir / "out.describe.jsonl"),
            "num_workers": s["workers"],
            "resume": False,
        },
        "vision": {**s.get("vision", VISION), "reader": "torchcodec"},
        "vllm": {
            "model": s["model"],
            "dtype": "bfloat16",
            "max_model_len": 4096,
            "enforce_eager": True,
            "limit_mm_per_prompt": {"video": 1, "image": 0},
            "enable_prefix_caching": False,
            "engine_kwargs": {"mm_processor_cache_gb": 0},
        },
        "sampling": {
            "temperature": 0.0,
            "max_tokens": s["max_tokens"],
            "seed": 0,
            "extra": {"ignore_eos": True},
        },
        "run": {
            "task": "bench_describe",
            "batch_size": s["batch_size"],
            "log_every": 10**9,
            "max_in_flight": s.get("max_in_flight"),
            "max_in_flight_mb": s.get("max_in_flight_mb", 4096.0),
        },
        "task_params": {
            "dataset": {
                "gated": gated,
                "extra_decode_s": s["extra_decode_s"],
                "slow_index": s.get("slow_index"),
                "slow_s": s.get("slow_s", 0.0),
                "decode_cores": _decode_cores(s["engine_cores"]),
            },
        },
    }


def _decode_cores(engine_cores: str | None) -> list[int] | None:
    """The cores left to decode workers when the engine is bound to `engine_cores`."""
    if not engine_cores:
        return None
    rest = sorted(os.sched_getaffinity(0) - {int(c) for c in engine_cores.split(",")})
    return rest or None


def pin_engine(engine_cores: str | None) -> None:
    """Bind the engine's threads to `engine_cores`; call before torch is imported.

    The binding alone leaves OpenMP with one thread per core of the machine, spinning
    on every core: a decoder on the "free" core then stalls the engine at each parallel
    region (measured: 3-6x slower). OMP_NUM_THREADS must match, as `launch` sets it for
    CPU ranks.
    """
    if engine_cores and len(os.sched_getaffinity(0)) > 1:
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = engine_cores
        os.environ["VLLM_CPU_NUM_OF_RESERVED_CPU"] = "0"
        os.environ["OMP_NUM_THREADS"] = str(len(engine_cores.split(",")))


def child(s: dict[str, Any]) -> dict[str, Any]:
    benchlib.engine_env()
    pin_engine(s["engine_cores"])
    _register()
    from transformers import AutoProcessor

    from video_pipeline import bench
    from video_pipeline.data.video_reader import install_reader
    from video_pipeline.engine.vllm_engine import VllmEngine, build_llm, build_sampling_params
    from video_pipeline.runner.rank import run_rank
    from video_pipeline.tasks.registry import get_task_class

    work = Path(tempfile.mkdtemp(prefix="enginebench"))
    cfg = _config(s, work, gated=True)
    install_reader(cfg.vision.reader)
    processor = AutoProcessor.from_pretrained(cfg.vllm.model)
    task = get_task_class(cfg.run.task)(**cfg.task_kwargs)
    dataset = bench.build_dataset(cfg, task, processor, {"gated": False})
    params = build_sampling_params(cfg.sampling, task)
    result: dict[str, Any] = {"videos": len(dataset), "spec": s, "load_avg": [os.getloadavg()[0]]}

    predecoded: list[dict[str, Any]] = []
    if any(v.startswith("engine_only") for v in s["variants"]):
        t0 = time.perf_counter()
        predecoded = [dataset[i] for i in range(len(dataset))]
        result["predecode_s"] = time.perf_counter() - t0
        result["decode_s_sum"] = sum(it["decode_s"] for it in predecoded)
    warm = predecoded[0] if predecoded else None

    llm_box: dict[str, Any] = {}

    def engine_factory() -> VllmEngine:
        t0 = time.perf_counter()
        llm = build_llm(cfg.vllm)
        nonlocal warm
        if warm is None:
            warm = dataset[0]
        llm.generate([warm["llm_input"]], params, use_tqdm=False)  # first-call costs
        llm_box["llm"] = llm
        llm_box["engine"] = engine = VllmEngine(llm)
        result["engine_start_s"] = time.perf_counter() - t0
        llm_box["t0"] = time.perf_counter()
        llm_box["t0_epoch"] = time.time()
        _GATE.set()
        return engine

    if "pipeline" in s["variants"]:
        stats = run_rank(cfg, 0, 1, engine_factory=engine_factory, processor=processor)
        wall = time.perf_counter() - llm_box["t0"]
        journal = (work / "out.describe.rank0.jsonl").read_text().splitlines()
        result["pipeline"] = {
            # when each sample finished, in seconds after the engine was ready
            "finished_s": {
                r["__key"]: round(r["time"] - llm_box["t0_epoch"], 3)
                for r in map(json.loads, journal)
            },
            "peak_in_flight_mb": stats.peak_in_flight_mb,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "wall_s": wall,
            "videos_per_s": stats.finished / wall,
            "done": stats.done,
            "failed": stats.failed,
            "decode_s_sum": stats.decode_s,
            "engine_step_s": stats.engine_s,
            "wait_s": stats.wait_s,
            "generated_tokens": stats.generated_tokens,
            "prompt_tokens": stats.prompt_tokens,
        }
    else:
        engine_factory()
    llm, engine = llm_box["llm"], llm_box["engine"]
    # the engine alone, measured as `bench` measures it: every request added, then stepped
    requests = bench.render_all(engine, predecoded)  # untimed
    full = len(requests) * s["max_tokens"]  # ignore_eos: every answer is max_tokens long

    if "naive" in s["variants"]:
        n = gen = 0
        t0 = time.perf_counter()
        with open(work / "naive.jsonl", "w") as out:
            # the seed's DataLoader(num_workers=0, batch_size=2): decode in this process
            for start in range(0, len(dataset), 2):
                batch = [dataset[i] for i in range(start, min(start + 2, len(dataset)))]
                ok = [it for it in batch if "error" not in it]
                outs = llm.generate([it["llm_input"] for it in ok], params, use_tqdm=False)
                for it, o in zip(ok, outs, strict=True):
                    out.write(json.dumps({"__key": it["__key"], "text": o.outputs[0].text}) + "\n")
                    gen += len(o.outputs[0].token_ids)
                n += len(batch)
        wall = time.perf_counter() - t0
        result["naive"] = {"wall_s": wall, "videos_per_s": n / wall, "generated_tokens": gen}

    if "engine_only_loaded" in s["variants"]:
        with DecodeLoad(s) as load:
            load.go()
            wall, _ = bench.engine_alone(engine, requests, params, 1)
        result["engine_only_loaded"] = {"wall_s": wall, "load_s": load.seconds}

    if "engine_only" in s["variants"]:
        wall, _ = bench.engine_alone(engine, requests, params, 0)
        result["engine_only"] = {
            "wall_s": wall,
            "videos_per_s": len(requests) / wall,
            "generated_tokens": full,
        }
    result["load_avg"].append(os.getloadavg()[0])
    return result


class DecodeLoad:
    """A process on the decode cores that decodes every video once, when told to go."""

    def __init__(self, s: dict[str, Any]) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(s, f)
        self._spec = f.name
        self.seconds = 0.0

    def __enter__(self) -> DecodeLoad:
        cmd = [sys.executable, __file__, "--decode-load", self._spec]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit("the decode load did not start")
        return self

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def __exit__(self, *exc: object) -> None:
        out, _ = self.proc.communicate(timeout=600)
        self.seconds = float(out.strip() or 0.0)
        Path(self._spec).unlink(missing_ok=True)


def decode_load(s: dict[str, Any]) -> None:
    """The DecodeLoad process: build the dataset, say ready, decode all on `go`."""
    cores = _decode_cores(s["engine_cores"])
    if cores:
        os.sched_setaffinity(0, cores)
    _register()
    from transformers import AutoProcessor

    from video_pipeline import bench
    from video_pipeline.data.video_reader import install_reader
    from video_pipeline.tasks.registry import get_task_class

    cfg = _config(s, Path(tempfile.mkdtemp(prefix="decodeload")), gated=False)
    install_reader(cfg.vision.reader)
    processor = AutoProcessor.from_pretrained(cfg.vllm.model)
    task = get_task_class(cfg.run.task)(**cfg.task_kwargs)
    dataset = bench.build_dataset(cfg, task, processor)
    print("ready", flush=True)
    sys.stdin.readline()
    t0 = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    print(time.perf_counter() - t0, flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        out = child(json.loads(Path(sys.argv[2]).read_text()))
        print(json.dumps(out, default=str))
    elif len(sys.argv) == 3 and sys.argv[1] == "--decode-load":
        decode_load(json.loads(Path(sys.argv[2]).read_text()))
    else:
        raise SystemExit("internal helper of the benchmark scripts: run a bench_*.py instead")
