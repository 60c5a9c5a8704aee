"""The argument checks of the C++ bindings, in NumPy, so both backends fail the same way."""
import numpy as np

FLOATS = (np.float32, np.float64)


def float_input(fn, name, a, ndim=None):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray of float32 or float64, got {type(a).__name__}")
    if a.dtype not in FLOATS:
        raise TypeError(f"{fn}: {name} must have dtype float32 or float64, got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{fn}: {name} must be {ndim}-D, got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{fn}: {name} with shape {a.shape} is not C-contiguous")
    if a.size == 0:
        raise ValueError(f"{fn}: {name} is empty (shape {a.shape})")
    return a


def same_dtype(fn, name, a, ref_name, ref):
    if a.dtype != ref.dtype:
        raise TypeError(f"{fn}: {name} has dtype {a.dtype} but {ref_name} has {ref.dtype}; "
                        "all arrays must share one dtype")


def same_shape(fn, name, a, shape):
    if a.shape != tuple(shape):
        raise ValueError(f"{fn}: {name} must have shape {tuple(shape)}, got {a.shape}")


def reject_nan(fn, name, a):
    if np.isnan(a).any():
        raise ValueError(f"{fn}: {name} with shape {a.shape} contains NaN")


def output(fn, name, out, shape, like):
    """A fresh array, or `out` checked to be writable in place with exactly this shape and dtype."""
    if out is None:
        return np.empty(shape, dtype=like.dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{fn}: {name} must be None or a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != like.dtype:
        raise TypeError(f"{fn}: {name} must have dtype {like.dtype}, got {out.dtype}")
    same_shape(fn, name, out, shape)
    inout(fn, name, out)
    return out


def inout(fn, name, a):
    if not a.flags.c_contiguous:
        raise ValueError(f"{fn}: {name} with shape {a.shape} is not C-contiguous; the kernel writes in place")
    if not a.flags.writeable:
        raise ValueError(f"{fn}: {name} is read-only; the kernel writes into it")
