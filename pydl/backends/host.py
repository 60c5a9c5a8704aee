"""Backends whose arrays are NumPy arrays: "cpu" (the C++ kernels) and "numpy" (their NumPy twins).

Both share host memory, so a network moves between them without copying.
"""
import numpy as np

from .base import Backend

__all__ = ["HostBackend"]


def _check(a, what):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{what}: expected a NumPy array (an array of a host backend), got {type(a).__name__}")
    return a


class HostBackend(Backend):
    """A backend of NumPy arrays computing with the kernel functions of ``kernels`` (a module)."""

    array_type = np.ndarray
    host = True

    def __init__(self, name, kernels, plan_type=None):
        self.name = name
        self.kernels = kernels
        self.plan_type = plan_type

    def empty(self, shape, dtype):
        return np.empty(shape, dtype=dtype)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype=dtype)

    def from_numpy(self, a):
        return np.array(_check(a, "from_numpy"), order="C")

    def to_numpy(self, a, copy=True):
        _check(a, "to_numpy")
        return a.copy() if copy else a

    def copy(self, a):
        return a.copy()

    def copy_(self, dst, src):
        dst[...] = src
        return dst

    def fill_(self, a, value):
        a.fill(value)
        return a

    def reshape(self, a, shape):
        return a.reshape(shape)

    def rows(self, a, start, stop):
        return a[start:stop]

    def clip_(self, a, low, high):
        return np.clip(a, low, high, out=a)

    def all_finite(self, a):
        return bool(np.isfinite(a).all())
