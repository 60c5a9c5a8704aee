#!/usr/bin/env bash
# Builds the extension with AddressSanitizer + UndefinedBehaviorSanitizer into build/asan (never touching
# the editable dev install) and runs the kernel tests and a kernel-fuzz budget against it.
#
#   scripts/sanitize.sh                 # kernel tests + 20,000 fuzz calls: the first build takes 10-20 min
#                                       # on two busy cores, the run about a minute
#   FUZZ_CALLS=200000 scripts/sanitize.sh
#   SKIP_BUILD=1 scripts/sanitize.sh    # reuse build/asan
#
# How: cmake builds _core straight into build/asan (-O1 -g, no LTO); the Python package, the tests and
# pyproject.toml are copied to a temporary directory with that _core inside; Python runs with -S (no
# site-packages .pth files, so the editable install's import redirect stays out) and the site-packages
# directory on PYTHONPATH for numpy/pytest/hypothesis; libasan is preloaded, since Python itself is not
# instrumented. Any sanitizer report aborts the process (halt_on_error, -fno-sanitize-recover), which
# fails the test run or shows up as a crash in the fuzz counts. Exit status: 0 when everything passed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=$ROOT/build/asan
PY=${PYTHON:-python3}
FUZZ_CALLS=${FUZZ_CALLS:-20000}
SITE=$($PY -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
PLATSITE=$($PY -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
VERSION=$($PY -c 'import re; print(re.search(r"^version\s*=\s*\"([^\"]+)\"", open("pyproject.toml").read(), re.M).group(1))')
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"

if [[ -z "${SKIP_BUILD:-}" ]]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_CXX_FLAGS="$SAN" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" -DCMAKE_INTERPROCEDURAL_OPTIMIZATION=OFF \
    -DSKBUILD_PROJECT_NAME=pydl -DSKBUILD_PROJECT_VERSION="$VERSION" -DPYDL_CUDA=OFF \
    -DPython_EXECUTABLE="$(command -v $PY)" -Dpybind11_DIR="$($PY -m pybind11 --cmakedir)" >/dev/null
  flock /tmp/pydl-build.lock cmake --build "$BUILD" -j 2
fi
SO=$(ls "$BUILD"/_core*.so)

TMP=$(mktemp -d /tmp/pydl-asan.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cp -r pydl "$TMP/pydl"
find "$TMP/pydl" -name '_core*.so' -delete
cp "$SO" "$TMP/pydl/"
cp -r tests "$TMP/tests"
mkdir -p "$TMP/scripts" && cp scripts/fuzz.py "$TMP/scripts/"
cp pyproject.toml "$TMP/"
find "$TMP" -name __pycache__ -prune -exec rm -rf {} +

export PYTHONPATH="$TMP:$SITE:$PLATSITE"
# libstdc++ too: ASan resolves __cxa_throw when it starts, and Python itself does not load libstdc++.
export LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(readlink -f "$(g++ -print-file-name=libstdc++.so)")"
# Python's own allocations are never freed at exit: leak reports would be noise. A huge request must be a
# MemoryError (NULL), not an ASan abort, as without the sanitizer.
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:halt_on_error=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export OMP_NUM_THREADS=2

cd "$TMP"
$PY -S -c 'import pydl, pydl._core as c; assert c.__file__.startswith("'"$TMP"'"), c.__file__; print("pydl._core:", c.__file__)'
status=0
$PY -S -m pytest -q -p no:cacheprovider tests/kernels/test_bad_input.py tests/kernels/test_kernel_hardening.py \
  tests/kernels/test_activations.py tests/kernels/test_dense.py tests/kernels/test_gemm.py tests/kernels/test_loss_kernels.py \
  tests/kernels/test_optim_kernels.py tests/kernels/test_conv.py tests/kernels/test_pool.py tests/kernels/fuzz/test_kernel_fuzz.py || status=1
$PY -S scripts/fuzz.py --calls "$FUZZ_CALLS" --seed 11 --batch 1000 --timeout 600 || status=1
echo "sanitize.sh: $([[ $status == 0 ]] && echo PASSED || echo FAILED)"
exit $status
