"""Shared fixtures: seeded generators, the SIMD levels every kernel is checked at, thread counts, the
devices every API test runs on, and the CUDA module the CUDA kernel tests run on.

The suite is grouped as kernels/ (each kernel against its NumPy twin, gradients, hostile arguments, the
fuzzer), api/ (Network, layers, losses, optimizers, callbacks, saving, devices), training/ (fit, the
plan), cuda/ (the CUDA kernels on the simulator, the simulator itself, GPU training) and, at the top, the
scripts and the experiments."""
import importlib

import numpy as np
import pytest

import pydl
from pydl import _core

DTYPES = [np.float32, np.float64]
SIMD_LEVELS = ["generic", "avx2", "avx512"]


def loss_rel(name, dtype):
    """How close a loss value must be to its twin's: float32 BCE sums float32 terms (kernel and twin differ in
    their logs' last bits); the other losses compute in double."""
    return 1e-6 if name == "bce_loss" and dtype == np.float32 else 1e-12


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(params=SIMD_LEVELS)
def simd_level(request):
    """Run the test with kernels capped at this SIMD level (skipped where the CPU lacks it)."""
    cpu = pydl.build_info()["cpu_simd"]
    if SIMD_LEVELS.index(request.param) > SIMD_LEVELS.index(cpu):
        pytest.skip(f"CPU supports only {cpu}")
    previous = pydl.build_info()["simd"]
    _core.set_simd_level(request.param)
    yield request.param
    _core.set_simd_level(previous)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    previous = pydl.get_num_threads()
    pydl.set_num_threads(request.param)
    yield request.param
    pydl.set_num_threads(previous)


# "wrapped" is tests/wrapped_backend.py: arrays NumPy cannot read, so a NumPy call behind the backend fails;
# "cuda-sim" runs the CUDA kernels (and the GPU plan) on the simulator, its DeviceArrays equally unreadable;
# "cuda" runs them on a real GPU, where there is one (marked ``cuda``: ``pytest -m cuda``).
DEVICES = ("cpu", "numpy", "wrapped", "cuda-sim", pytest.param("cuda", marks=pytest.mark.cuda))


@pytest.fixture(params=DEVICES)
def device(request):
    """The name of each device an API test runs on."""
    import wrapped_backend  # noqa: F401 -- registers "wrapped"
    if request.param == "cuda" and not pydl.cuda.is_available():
        pytest.skip(f"no usable GPU: {pydl.cuda.why_unavailable()}")
    return request.param


# ---- the CUDA module under test (tests/cuda) -------------------------------------------------------
# Every CUDA kernel runs on pydl._cuda_sim, the same .cu sources compiled against the CPU simulator of the
# CUDA execution model, in each thread order, and is compared with its NumPy twin; on a machine with a
# usable GPU the same tests also run on pydl._cuda (marked ``cuda``: ``pytest -m cuda``).
THREAD_ORDERS = ("forward", "reverse", "shuffle")


def simulator_module():
    return pytest.importorskip("pydl._cuda_sim", reason="pydl was built with PYDL_CUDA_SIM=OFF")


def gpu_module():
    if not pydl.cuda.is_available():
        pytest.skip(f"no usable GPU: {pydl.cuda.why_unavailable()}")
    return importlib.import_module("pydl._cuda")


@pytest.fixture(params=[*THREAD_ORDERS, pytest.param("gpu", marks=pytest.mark.cuda)])
def sim(request):
    """The CUDA module under test: pydl._cuda_sim running each block's threads in the given order between
    barriers, then pydl._cuda on a real GPU where there is one."""
    if request.param == "gpu":
        yield gpu_module()
        return
    module = simulator_module()
    module.set_thread_order(request.param, 1234)
    yield module
    module.set_thread_order("forward", 0)


@pytest.fixture
def sim_forward():
    """pydl._cuda_sim in its default (forward) thread order, for tests whose result cannot depend on it."""
    return simulator_module()
