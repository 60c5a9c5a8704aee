#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build pydl with its CUDA module, run the GPU tests (pytest -m cuda: every
# CUDA kernel test and the device-parametrised API tests on the real device) and scripts/bench_gpu.py against
# PyTorch CUDA, in under 8 minutes.
# Needs nvcc, PyTorch with CUDA and pydl's build requirements already installed (it fetches nothing).
#
#     bash scripts/gpu_check.sh            # PYTHON=python3.12 to choose the interpreter
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
py="${PYTHON:-python3}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi: not found"
uptime

# This GPU's architecture only (an H200: sm_90), to build fast; release builds add sm_80 and PTX.
echo "## build"
time "$py" -m pip install -q --no-build-isolation --no-deps "$repo" -Cbuild-dir=/tmp/pydl-gpu-build \
  -Ccmake.define.PYDL_CUDA=ON -Ccmake.define.CMAKE_CUDA_ARCHITECTURES="${PYDL_CUDA_ARCH:-90}"

cd /tmp  # import the installed pydl, not the source tree
"$py" -c "import pydl; print('pydl.cuda.is_available():', pydl.cuda.is_available(), pydl.cuda.why_unavailable())"

echo "## tests on the GPU (pytest -m cuda: the CUDA kernel tests and the API tests on device 'cuda')"
# In worker processes where pytest-xdist is installed: a test that crashes the process loses only its worker.
workers=()
if "$py" -c "import xdist" 2>/dev/null; then workers=(-n 8); fi
timeout 200 "$py" -m pytest -q -p no:cacheprovider -m cuda -rfE --tb=short "${workers[@]}" "$repo/tests" \
  || echo "GPU TESTS FAILED (status $?)"

echo "## benchmark"
timeout 180 "$py" "$repo/scripts/bench_gpu.py" --device cuda --repeats "${REPEATS:-5}" || echo "BENCHMARK FAILED (status $?)"

# The GPU training tests once more under compute-sanitizer's memcheck: an out-of-bounds or misaligned access
# on the real device fails them (the simulator's AddressSanitizer run covers the CPU side of the same code).
if command -v compute-sanitizer >/dev/null; then
  echo "## compute-sanitizer memcheck: GPU training tests"
  timeout 120 compute-sanitizer --tool memcheck --error-exitcode 99 "$py" -m pytest -q -p no:cacheprovider -m cuda \
    "$repo/tests/cuda/test_cuda_training.py" || echo "MEMCHECK FAILED OR TIMED OUT (status $?)"
fi
