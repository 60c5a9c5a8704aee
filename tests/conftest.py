"""Shared fixtures: seeded generators and the SIMD levels every kernel is checked at."""
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
