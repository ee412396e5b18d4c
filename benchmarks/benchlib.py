"""Shared pieces of the benchmark scripts: fixtures, timing, machine facts, result files.

Every script measures its baseline and its candidate in the same run and reports ratios,
so that numbers from different machines (or a busy machine) stay comparable. Results go
to `benchmarks/results/<name>.json` (gitignored) and one line on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
if str(REPO) not in sys.path:  # scripts run as `python benchmarks/bench_x.py`
    sys.path.insert(0, str(REPO))


def engine_env() -> None:
    """The in-process CPU engine (starts in seconds); a GPU build ignores these."""
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat (CI)")
    p.add_argument("--repeat", type=int, default=3, help="repeats; the best is reported")
    p.add_argument(
        "--work", type=Path, default=RESULTS / "work", help="scratch folder for generated inputs"
    )
    p.add_argument("--out", type=Path, default=None, help="result JSON (default: results/)")
    return p


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    info: dict[str, Any] = {
        "cpu": platform.processor() or platform.machine(),
        "arch": platform.machine(),
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
        info["mem_gib"] = round(mem_kb / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        pass
    from video_pipeline.devices import gpu_names

    info["gpu"] = (gpu_names() or [None])[0]  # no CUDA query: the engine forks later
    try:
        from importlib.metadata import version

        info["vllm"] = version("vllm-cpu") + " (CPU build)"
    except Exception:
        try:
            from importlib.metadata import version

            info["vllm"] = version("vllm")
        except Exception:
            info["vllm"] = None
    info["load_avg_at_start"] = os.getloadavg()[0]
    return info


def best_of(fn: Callable[[], float], repeat: int) -> dict[str, Any]:
    """Run `fn` (which returns seconds) `repeat` times: best, median and all runs."""
    runs = [fn() for _ in range(max(1, repeat))]
    return summarize(runs)


def best_of_cpu(fn: Callable[[], Any], repeat: int) -> dict[str, Any]:
    """Wall and CPU seconds of this process for `fn`, best of `repeat`.

    On a shared 2-core machine another process can take a core away; the CPU time of a
    single-threaded step is the steadier number, the wall time the one users see.
    """
    walls, cpus = [], []
    for _ in range(max(1, repeat)):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {**summarize(walls), "best_cpu_s": min(cpus), "cpu_runs_s": [round(c, 4) for c in cpus]}


def summarize(runs: list[float]) -> dict[str, Any]:
    return {
        "best_s": min(runs),
        "median_s": statistics.median(runs),
        "runs_s": [round(r, 4) for r in runs],
    }


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def save(name: str, result: dict[str, Any], out: Path | None, line: str) -> Path:
    """Write the result JSON (with the machine) and print the one-line summary."""
    path = out or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), "time": time.time(), **result}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"{name}: {line}")
    print(f"  -> {path}")
    return path


def tiny_model(work: Path, layers: int | None = None) -> Path:
    """The tiny Qwen2.5-VL; with `layers`, a deeper (slower) one, engine-bound as a real
    model is on a GPU."""
    from video_pipeline.fixtures.tiny_model import build_tiny_model

    if layers is None:
        return build_tiny_model(work / "tiny-qwen2.5-vl")
    return build_tiny_model(work / f"tiny-qwen2.5-vl-{layers}-layers", layers=layers)


def video_input(
    work: Path, n: int, seconds: float = 4.0, width: int = 160, height: int = 120
) -> Path:
    """`n` generated clips and the input JSONL listing them (reused when present)."""
    from video_pipeline.fixtures.videos import make_video_set, write_input_jsonl

    d = work / f"videos_{n}_{seconds:g}s_{width}x{height}"
    jsonl = d / "input.jsonl"
    if not jsonl.exists():
        videos = make_video_set(d, n, seconds=seconds, fps=8, width=width, height=height)
        write_input_jsonl(d / "input.tmp", videos).rename(jsonl)
    return jsonl


def synthetic_rows(path: Path, n: int) -> Path:
    """An input JSONL of `n` rows (videos need not exist: decode is not involved)."""
    if path.exists() and _count_lines(path) == n:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        chunk = []
        for i in range(n):
            chunk.append(
                f'{{"path": "/data/videos/clip_{i:08d}.mp4", '
                f'"meta": {{"id": "clip_{i:08d}", "source": "bench", "index": {i}}}}}\n'
            )
            if len(chunk) == 10000:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))
    tmp.rename(path)
    return path


def synthetic_record(i: int) -> dict[str, Any]:
    """Record `i` of a merged structured_caption run, as merge writes it; every 20th is
    a decode error. One shape for the export and report benchmarks."""
    key = f"/data/videos/{i:08d}.mp4"
    rec: dict[str, Any] = {
        "__key": key,
        "status": "ok",
        "fingerprint": "0123456789abcdef",
        "task": "structured_caption",
        "raw": {"path": key, "meta": {"source": f"cam{i % 7}"}},
        "rank": i % 8,
        "time": 1.7e9 + i,
        "text": "",
        "result": {
            "summary": f"Clip {i}: a person walks a dog past shop {i % 97} in the rain.",
            "objects": ["person", "dog", f"shop {i % 97}"],
            "camera": "static" if i % 3 else "pan",
        },
        "error": None,
        "tokens": {"prompt": 900 + i % 50, "generated": 40 + i % 30, "cached": 0},
        "finish_reason": "length" if i % 41 == 0 else "stop",
        "decode_s": 0.05,
        "engine_s": 1.2,
    }
    if i % 20 == 0:
        rec.update(status="error", result=None, tokens=None, finish_reason=None)
        rec["error"] = {"kind": "decode_error", "message": "bad frame", "transient": False}
    return rec


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(buf.count(b"\n") for buf in iter(lambda: f.read(1 << 20), b""))


class ChildFailed(RuntimeError):
    """A measuring child process exited non-zero; `stderr` is its last words."""

    def __init__(self, what: str, code: int, stderr: str) -> None:
        super().__init__(f"{what} exited {code}:\n{stderr[-3000:]}")
        self.stderr = stderr


def child(script: str, *args: str, single_thread: bool = False) -> dict[str, Any]:
    """Run `script --child *args` in a fresh process and read the JSON line it prints
    last. `single_thread`: one FFmpeg and one OpenMP thread, so CPU seconds compare."""
    import subprocess

    env = dict(os.environ)
    if single_thread:
        env.update(TORCHCODEC_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, script, "--child", *args], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        raise ChildFailed(" ".join(args), proc.returncode, proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("nan")


def planning_config(input_jsonl: Path, output_jsonl: Path, model: str = "tiny-model") -> Any:
    """A describe-task config for benchmarks that never load the model."""
    from video_pipeline.config import load_config

    return load_config(
        data={
            "data": {"input_jsonl": str(input_jsonl), "output_jsonl": str(output_jsonl)},
            "vllm": {"model": model},
            "run": {"task": "describe"},
        }
    )


def synthetic_journals(
    cfg: Any, ranks: int, error_every: int = 100, limit: int | None = None
) -> list[Path]:
    """Rank journals holding one real record per input row (row i on rank i % ranks).

    With `limit`, only the first `limit` rows are journaled (a run stopped half way).

    Records are built by the runner's own record functions and written by its
    JournalWriter, so their size and field order are those of a real run. Reused when
    complete journals are already there.
    """
    from video_pipeline.engine.base import Finished
    from video_pipeline.fingerprint import fingerprint
    from video_pipeline.io.journal import JournalWriter, journal_path
    from video_pipeline.io.jsonl import iter_lines, parse_line
    from video_pipeline.io.record import RecordError
    from video_pipeline.runner.records import error_record, ok_record

    paths = [journal_path(cfg.data.output_jsonl, r) for r in range(ranks)]
    marker = Path(f"{cfg.data.output_jsonl}.complete")
    if marker.exists() and all(p.exists() for p in paths):
        return paths
    for p in paths:
        p.unlink(missing_ok=True)
    fp = fingerprint(cfg)
    text = "A person walks across a room, picks up a cup and leaves; the camera pans left. " * 2
    writers = [JournalWriter(p, flush_every=1000, fsync_every=0) for p in paths]
    try:
        for i, (_off, lineno, line) in enumerate(iter_lines(cfg.data.input_jsonl)):
            if limit is not None and i >= limit:
                break
            raw = parse_line(line, lineno)
            key = raw["path"]
            rank = i % ranks
            timing = (0.0123, 0.4567)  # decode_s, engine_s
            if error_every and i % error_every == error_every - 1:
                err = RecordError("decode_error", "torchcodec: RuntimeError: bad frame")
                rec = error_record(key, fp, "describe", raw, rank, err, None, *timing)
            else:
                out = Finished(f"r{rank}-{i}", text, 1800, 64, "stop", 0)
                result = {"description": text}
                rec = ok_record(key, fp, "describe", raw, rank, out, result, *timing)
            writers[rank].write(rec)
    finally:
        for w in writers:
            w.close()
    marker.write_text("ok\n")
    return paths


def journal_fixture(work_root: Path, size: int, ranks: int = 4) -> Any:
    """A synthetic input of `size` rows, fully journaled by `ranks` ranks; its config.

    Shared by the resume-scan and shard/merge benchmarks (same folder, built once).
    """
    work = work_root / f"journals_{size}"
    inp = synthetic_rows(work / "input.jsonl", size)
    cfg = planning_config(inp, work / "out.describe.jsonl")
    synthetic_journals(cfg, ranks=ranks)
    return cfg
