"""A test backend whose arrays are not NumPy arrays, so that anything reading or writing memory behind the
backend's back fails loudly.

``WrappedArray`` holds a NumPy array but offers NumPy no way in: no ``__array__``, no
``__array_interface__``, no buffer protocol, no indexing and no arithmetic; comparisons and truth tests
raise. Only ``shape``, ``dtype`` and ``ndim`` are public, as every array library has them. The kernels
unwrap their arguments, call the NumPy twin (:mod:`pydl.reference`) and wrap what it returns, writing
into the given ``out=`` arrays; a NumPy array reaching a kernel raises.
"""
import types

import numpy as np

from pydl import backends, reference


class WrappedArray:
    """Device memory stand-in (see the module docstring)."""

    __slots__ = ("_inner",)

    def __init__(self, inner):
        self._inner = inner

    shape = property(lambda self: self._inner.shape)
    dtype = property(lambda self: self._inner.dtype)
    ndim = property(lambda self: self._inner.ndim)

    def _refuse(self, *args):
        raise TypeError("WrappedArray: device memory is reached only through its backend")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __bool__ = __iter__ = _refuse
    __hash__ = object.__hash__

    def __repr__(self):
        return f"WrappedArray(shape={self.shape}, dtype={self.dtype})"


def _unwrap(value, name, seen):
    if isinstance(value, WrappedArray):
        seen[id(value._inner)] = value
        return value._inner
    if isinstance(value, np.ndarray):
        raise TypeError(f"{name}: a NumPy array reached the wrapped backend's kernel (something bypassed the backend)")
    return value


def _wrap(result, seen):
    if isinstance(result, tuple):
        return tuple(_wrap(r, seen) for r in result)
    if isinstance(result, np.ndarray):
        return seen[id(result)] if id(result) in seen else WrappedArray(result)  # out= comes back as itself
    return result


def _kernel(name):
    twin = getattr(reference, name)

    def kernel(*args, **kwargs):
        seen = {}
        args = [_unwrap(a, name, seen) for a in args]
        kwargs = {k: _unwrap(v, name, seen) for k, v in kwargs.items()}
        return _wrap(twin(*args, **kwargs), seen)

    kernel.__name__ = name
    return kernel


def _kernels():
    module = types.ModuleType("wrapped_kernels")
    module.__all__ = list(reference.__all__)
    for name in module.__all__:
        setattr(module, name, _kernel(name))
    return module


def _inner(a, what):
    if not isinstance(a, WrappedArray):
        raise TypeError(f"wrapped backend {what}: expected a WrappedArray, got {type(a).__name__}")
    return a._inner


class WrappedBackend(backends.Backend):
    name = "wrapped"
    array_type = WrappedArray
    host = False

    def __init__(self):
        self.kernels = _kernels()

    def empty(self, shape, dtype):
        return WrappedArray(np.empty(shape, dtype=dtype))

    def zeros(self, shape, dtype):
        return WrappedArray(np.zeros(shape, dtype=dtype))

    def from_numpy(self, a):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"wrapped backend from_numpy: expected a NumPy array, got {type(a).__name__}")
        return WrappedArray(np.array(a, order="C"))

    def to_numpy(self, a, copy=True):
        return _inner(a, "to_numpy").copy()  # never hands out device memory itself

    def copy(self, a):
        return WrappedArray(_inner(a, "copy").copy())

    def copy_(self, dst, src):
        _inner(dst, "copy_")[...] = src if isinstance(src, np.ndarray) else _inner(src, "copy_")
        return dst

    def fill_(self, a, value):
        _inner(a, "fill_").fill(value)
        return a

    def reshape(self, a, shape):
        return WrappedArray(_inner(a, "reshape").reshape(shape))

    def rows(self, a, start, stop):
        return WrappedArray(_inner(a, "rows")[start:stop])

    def clip_(self, a, low, high):
        np.clip(_inner(a, "clip_"), low, high, out=a._inner)
        return a

    def all_finite(self, a):
        return bool(np.isfinite(_inner(a, "all_finite")).all())


WRAPPED = backends.register(WrappedBackend())
