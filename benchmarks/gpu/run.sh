#!/usr/bin/env bash
# The GPU row of BENCHMARKS.md in under 10 minutes, on one GPU with the CUDA `vllm`.
#
#   benchmarks/gpu/run.sh                      # the tiny models only (no hub needed)
#   benchmarks/gpu/run.sh /models/Qwen2.5-VL-7B-Instruct [more model folders]
#
# Needs: `pip install -e .[gpu]` (vllm 0.32.0, a CUDA 13 build: Python >= 3.11, an NVIDIA
# driver for CUDA 13), FFmpeg for torchcodec. The models run in bfloat16, or float16 on
# GPUs before compute capability 8.0 (no bfloat16); DTYPE=... overrides.
# It runs benchmarks/gpu/readiness.py first. For each model it builds (tiny) or takes (given) the model, generates test videos,
# and runs `python -m video_pipeline.cli.bench` at 128 and 256 tokens: pipeline /
# engine alone, videos per GPU-hour, tokens/s and where the time went. Every number
# printed comes from one run of the bench, its two halves on one engine.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python}
WORK=${WORK:-$(mktemp -d /tmp/vp-gpu-bench.XXXX)}
N=${N:-256}
echo "work: $WORK"
# The checks that need a GPU but not vLLM first (fork after a CUDA query, the thread
# plan, GPU resize), each printing what it checked; a fork problem stops here.
PYTHONPATH=. "$PY" benchmarks/gpu/readiness.py --json "$WORK/readiness.json"
# nvidia-smi, not torch: nothing here may initialise CUDA in a process that forks later.
first=${CUDA_VISIBLE_DEVICES:-0}  # bench runs on the first visible GPU
gpu=$(nvidia-smi -i "${first%%,*}" --query-gpu=name,compute_cap --format=csv,noheader)
cap=${gpu##*, }
if [ "${cap%%.*}" -ge 8 ]; then auto_dtype=bfloat16; else auto_dtype=float16; fi
DTYPE=${DTYPE:-$auto_dtype}
"$PY" - <<PY
import torch, vllm
print(f"vllm {vllm.__version__}, torch {torch.__version__}, GPU: $gpu, dtype $DTYPE")
PY

"$PY" -m video_pipeline.fixtures.videos "$WORK/videos" --n "$N" --seconds 8 --fps 8 \
  --width 640 --height 360 --jsonl "$WORK/input.jsonl"
"$PY" -m video_pipeline.fixtures.tiny_model "$WORK/tiny-qwen2.5-vl"
models=("$WORK/tiny-qwen2.5-vl" "$@")

for model in "${models[@]}"; do
  cat > "$WORK/bench.yaml" <<YAML
data: {input_jsonl: $WORK/input.jsonl, output_jsonl: $WORK/out/o.jsonl, num_workers: 4}
vision: {total_pixels: 2007040, min_pixels: 3136, fps: 2}
vllm: {model: $model, dtype: $DTYPE, gpu_memory_utilization: 0.85,
       limit_mm_per_prompt: {video: 1, image: 0}}
sampling: {temperature: 0.0}
run: {task: describe}
YAML
  for tokens in 128 256; do
    echo "== $model, $tokens tokens"
    "$PY" -m video_pipeline.cli.bench --config "$WORK/bench.yaml" --n "$N" \
      --set "sampling.max_tokens=$tokens"
  done
done
