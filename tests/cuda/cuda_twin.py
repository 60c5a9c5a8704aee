"""Comparisons of the CUDA kernels with their NumPy twins (pydl.reference), shared by tests/cuda."""
import numpy as np
import pytest


def close(got, want, f32=2e-5, f64=1e-12):
    """got (a DeviceArray or ndarray) equals want to the dtype's tolerance, relative to want's largest value."""
    got = got.to_numpy() if hasattr(got, "to_numpy") else got
    tol = f32 if want.dtype == np.float32 else f64
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, float(np.abs(want).max())))


def raises_like_the_twin(sim_call, ref_call):
    """sim_call raises the exception type and message that ref_call (the twin on NumPy arrays) raises."""
    with pytest.raises(Exception) as ref:
        ref_call()
    with pytest.raises(type(ref.value)) as got:
        sim_call()
    assert str(got.value) == str(ref.value), f"{got.value!r} != {ref.value!r}"


def in_every_thread_order(sim, compute):
    """compute() (a list of DeviceArrays) run under each of the simulator's thread orders, as NumPy arrays."""
    results = []
    try:
        for order in ("forward", "reverse", "shuffle"):
            sim.set_thread_order(order, 7)
            results.append([a.to_numpy() for a in compute()])
    finally:
        sim.set_thread_order("forward", 0)
    return results
