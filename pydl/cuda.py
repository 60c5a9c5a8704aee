"""CUDA: whether pydl can run on a GPU here, and why not.

``Network(..., device="cuda")`` computes on the GPU with pydl's CUDA kernels; ``device="cuda-sim"`` runs
the same kernels on pydl's CPU simulator of the CUDA execution model, which needs no GPU (slow: for tests
and for checking GPU code on any machine).
"""
from . import backends as _backends

__all__ = ["is_available", "why_unavailable", "simulator_available", "synchronize"]


def is_available():
    """True when pydl was built with nvcc and a GPU with a working driver is present."""
    return _backends.CUDA.available()


def why_unavailable():
    """Empty when :func:`is_available`, else why not (not built with nvcc, no driver, no device)."""
    return _backends.CUDA.why_unavailable()


def simulator_available():
    """True when the CUDA simulator module (device ``"cuda-sim"``) was built (the default)."""
    return _backends.CUDA_SIM.available()


def synchronize(device="cuda"):
    """Wait for every kernel queued on ``device`` ("cuda" or "cuda-sim")."""
    _backends.get(device).synchronize()
