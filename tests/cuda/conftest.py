"""Fixtures of the CUDA tests: the CUDA module under test.

Every CUDA kernel runs here on pydl._cuda_sim, the same .cu sources compiled against the CPU simulator of
the CUDA execution model, in each thread order, and is compared with its NumPy twin in pydl.reference. On a
machine with a usable GPU the same tests also run on pydl._cuda (marked ``cuda``: ``pytest -m cuda``).
"""
import importlib

import pytest

import pydl

ORDERS = ("forward", "reverse", "shuffle")


def simulator_module():
    return pytest.importorskip("pydl._cuda_sim", reason="pydl was built with PYDL_CUDA_SIM=OFF")


def gpu_module():
    if not pydl.cuda.is_available():
        pytest.skip(f"no usable GPU: {pydl.cuda.why_unavailable()}")
    return importlib.import_module("pydl._cuda")


@pytest.fixture(params=[*ORDERS, pytest.param("gpu", marks=pytest.mark.cuda)])
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
