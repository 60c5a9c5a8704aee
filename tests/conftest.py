"""Shared fixtures: seeded generators, the SIMD levels every kernel is checked at, thread counts, and the
devices every API test runs on.

The suite is grouped as kernels/ (each kernel against its NumPy twin, gradients, hostile arguments, the
fuzzer), api/ (Network, layers, losses, optimizers, callbacks, saving, devices), training/ (fit, the
plan) and, at the top, the scripts and the experiments."""
import numpy as np
import pytest

import pydl
from pydl import _core

DTYPES = [np.float32, np.float64]
SIMD_LEVELS = ["generic", "avx2", "avx512"]


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


# "wrapped" is tests/wrapped_backend.py: arrays NumPy cannot read, so a NumPy call behind the backend fails.
DEVICES = ("cpu", "numpy", "wrapped")


@pytest.fixture(params=DEVICES)
def device(request):
    """The name of each device an API test runs on."""
    import wrapped_backend  # noqa: F401 -- registers "wrapped"
    return request.param
