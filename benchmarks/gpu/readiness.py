"""GPU readiness checks that need a GPU but not vLLM: run first by run.sh, or alone.

    PYTHONPATH=. python benchmarks/gpu/readiness.py [--json out.json]

Each check prints what it did and what it found:

1. fork after a CUDA query: torch's runtime check (`torch.cuda.is_available()` without
   PYTORCH_NVML_BASED_CUDA_CHECK) leaves a process that cannot fork a CUDA user, which
   is what vLLM does with its EngineCore; importing video_pipeline first must keep fork
   usable. The bare case is the control: it shows the hazard is real on this machine.
2. the node as the devices module sees it (GPU device files vs nvidia-smi) and a GPU
   rank's thread plan here, with torchrun's OMP_NUM_THREADS=1 set first.
3. frames resized on the GPU (what `vision.decode_device: cuda` does after NVDEC)
   against the CPU's exact path: the largest difference and the time per frame.
4. bfloat16 support (run.sh falls back to float16 without it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time

FORK_PROBE = textwrap.dedent(
    """
    import os, sys
    if sys.argv[1] == "project":
        import video_pipeline  # noqa: F401  (sets the NVML-based check)
    import torch
    seen = torch.cuda.is_available()
    pid = os.fork()
    if pid == 0:
        try:
            torch.zeros(1, device="cuda").add_(1)
            torch.cuda.synchronize()
            os._exit(0)
        except Exception as e:
            print(f"child: {type(e).__name__}: {str(e)[:160]}", flush=True)
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    print(f"is_available={seen} child_exit={os.waitstatus_to_exitcode(status)}")
    """
)


def fork_check() -> dict:
    out = {}
    for case in ("bare", "project"):
        env = {k: v for k, v in os.environ.items() if k != "PYTORCH_NVML_BASED_CUDA_CHECK"}
        env["PYTHONPATH"] = os.getcwd()
        p = subprocess.run(
            [sys.executable, "-c", FORK_PROBE, case],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        out[case] = (p.stdout + p.stderr).strip()[-400:]
        print(f"[fork] {case}: {out[case]}", flush=True)
    out["hazard_reproduced"] = "child_exit=0" not in out["bare"]
    out["project_forks"] = "child_exit=0" in out["project"]
    return out


def node_check() -> dict:
    os.environ["OMP_NUM_THREADS"] = "1"  # as torchrun sets it with several ranks
    os.environ.setdefault("LOCAL_WORLD_SIZE", "1")
    from video_pipeline.devices import gpu_names, node_gpu_count
    from video_pipeline.runner.threads import gpu_rank_threads, size_gpu_rank

    plan, source = gpu_rank_threads(workers=8, render=1, tp=1)
    size_gpu_rank(workers=8, render=1, tp=1)
    out = {
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)),
        "node_gpu_count": node_gpu_count(),
        "nvidia_smi": gpu_names(),
        "plan": plan.__dict__,
        "plan_total": plan.total,
        "source": source,
        "omp_after": os.environ["OMP_NUM_THREADS"],
    }
    print(f"[node] {json.dumps(out)}", flush=True)
    return out


def resize_check() -> dict:
    import torch
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as F

    g = torch.Generator().manual_seed(0)
    # structure and noise, like a real frame: gradients plus texture
    y = torch.linspace(0, 255, 1080).view(1, 1080, 1).expand(3, 1080, 1920)
    x = torch.linspace(0, 255, 1920).view(1, 1, 1920).expand(3, 1080, 1920)
    noise = torch.randint(0, 64, (8, 3, 1080, 1920), generator=g).float()
    frames = ((y + x) / 2 + noise).clamp(0, 255).to(torch.uint8)
    size = [364, 672]

    def exact(t: torch.Tensor) -> torch.Tensor:
        r = F.resize(t.float(), size, interpolation=InterpolationMode.BICUBIC, antialias=True)
        return r.round().clamp(0, 255).to(torch.uint8)

    t0 = time.perf_counter()
    cpu = exact(frames)
    cpu_s = (time.perf_counter() - t0) / len(frames)
    gpu_in = frames.cuda()
    exact(gpu_in)  # warm-up
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    gpu = exact(gpu_in).cpu()
    gpu_s = (time.perf_counter() - t0) / len(frames)
    diff = (cpu.int() - gpu.int()).abs()
    # torch's uint8 antialiased kernel (`vision.resize: fast` on CPU) has no CUDA
    # version: on the GPU, fast and exact are the same float kernel
    try:
        torch.nn.functional.interpolate(gpu_in, size=size, mode="bicubic", antialias=True)
        uint8_on_gpu = "supported"
    except (NotImplementedError, RuntimeError) as e:
        uint8_on_gpu = f"{type(e).__name__}: {e}"[:120]
    out = {
        "max_abs_diff_float": int(diff.max()),
        "frac_pixels_differ_float": round(float((diff > 0).float().mean()), 6),
        "uint8_kernel_on_gpu": uint8_on_gpu,
        "cpu_ms_per_frame": round(cpu_s * 1e3, 2),
        "gpu_ms_per_frame": round(gpu_s * 1e3, 3),
    }
    print(f"[resize] 1080p -> 364x672 bicubic antialias: {json.dumps(out)}", flush=True)
    return out


def dtype_check() -> dict:
    import torch

    major, minor = torch.cuda.get_device_capability(0)
    out = {
        "compute_capability": f"{major}.{minor}",
        "bf16": bool(torch.cuda.is_bf16_supported()),
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
    }
    print(f"[dtype] {json.dumps(out)}", flush=True)
    return out


def decoder_check() -> dict:
    try:
        import torchcodec
    except Exception as e:  # not installed here: NVDEC decode stays unmeasured
        out = {"torchcodec": f"unavailable: {type(e).__name__}: {e}"[:200]}
    else:
        out = {"torchcodec": getattr(torchcodec, "__version__", "?")}
    print(f"[decoder] {json.dumps(out)}", flush=True)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    results = {"fork": fork_check()}
    for name, check in (
        ("node", node_check),
        ("resize", resize_check),
        ("dtype", dtype_check),
        ("decoder", decoder_check),
    ):
        try:
            results[name] = check()
        except Exception as e:  # one failing check must not hide the others
            results[name] = {"error": f"{type(e).__name__}: {e}"[:400]}
            print(f"[{name}] failed: {results[name]['error']}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    ok = results["fork"]["project_forks"]
    print("readiness:", "OK" if ok else "FORK PROBLEM", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
