"""The argument checks of the C++ bindings (csrc/bindings/check.cpp), in NumPy, so both backends fail the same way.

Scalars: only plain Python/NumPy scalars are accepted (no ndarray, not even 0-d; no bool where a number is
expected; no foreign ``__index__``/``__float__``). Arrays: exact ndarrays (a subclass is read through a
base-class view of the same memory, a masked array is refused), dtype, real (no zero-stride) C-contiguous
aligned memory, no partial overlap between an output and an input.
"""
import math

import numpy as np

FLOATS = (np.float32, np.float64)
MAX_GEOMETRY = 2 ** 31 - 1  # csrc/bindings/check.h kMaxGeometry
MAX_STAGED = 2 ** 28  # csrc/bindings/bindings_conv.cpp kMaxStagedElements


def _describe(v):
    s = type(v).__name__
    if isinstance(v, np.ndarray):
        s += f" of shape {v.shape} and dtype {v.dtype}"
    return s


# ---- scalars

def int_arg(fn, name, v):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{fn}: {name} must be an int, got {_describe(v)}")
    v = int(v)
    if not -2 ** 63 <= v < 2 ** 63:
        raise ValueError(f"{fn}: {name} is out of range (|value| >= 2**63)")
    return v


def float_arg(fn, name, v):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: {name} must be a number (int or float), got {_describe(v)}")
    try:
        f = float(v)
    except OverflowError:
        raise ValueError(f"{fn}: {name} is out of the float range") from None
    if not math.isfinite(f):
        raise ValueError(f"{fn}: {name} must be finite, got {f}")
    return f


def fits_dtype(fn, name, v, like):
    """ValueError when like is float32 and v does not fit it (it would become inf in the kernel)."""
    if like.dtype == np.float32 and abs(v) > float(np.finfo(np.float32).max):
        raise ValueError(f"{fn}: {name}={v!r} overflows float32, the arrays' dtype")


def bool_arg(fn, name, v):
    if v is True or v is False or isinstance(v, np.bool_):
        return bool(v)
    raise TypeError(f"{fn}: {name} must be True or False, got {_describe(v)}")


def int_pair(fn, name, v):
    """An int, or a tuple/list (h, w) of two ints, as a pair."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise TypeError(f"{fn}: {name} must be an int or a pair of ints (h, w), got a "
                            f"{type(v).__name__} of length {len(v)}")
        a, b = v
        return int_arg(fn, f"{name}[0]", a), int_arg(fn, f"{name}[1]", b)
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = int_arg(fn, name, v)
        return v, v
    raise TypeError(f"{fn}: {name} must be an int or a pair of ints (h, w), got {_describe(v)}")


def int_tuple(fn, name, v, n):
    if not isinstance(v, (tuple, list)) or len(v) != n:
        raise TypeError(f"{fn}: {name} must be a sequence of {n} ints (a tuple or list), got {_describe(v)}")
    items = list(v)
    return tuple(int_arg(fn, f"{name}[{i}]", item) for i, item in enumerate(items))


def str_arg(fn, name, v):
    if not isinstance(v, str):
        raise TypeError(f"{fn}: {name} must be a str, got {_describe(v)}")
    return v


ACTIVATIONS = ("none", "relu", "sigmoid", "tanh")


def activation_arg(fn, name, count):
    """``name`` (str_arg's result) when among the first ``count`` of ACTIVATIONS (those a kernel fuses)."""
    allowed = ACTIVATIONS[:count]
    if name not in allowed:
        listed = ", ".join(f"'{a}'" for a in allowed[:-1]) + f" or '{allowed[-1]}'"
        raise ValueError(f"{fn}: activation must be {listed}, got '{name}'")
    return name


def geometry_range(fn, name, pair, lo):
    if min(pair) < lo:
        raise ValueError(f"{fn}: {name} must be >= {lo}, got {tuple(pair)}")
    if max(pair) > MAX_GEOMETRY:
        raise ValueError(f"{fn}: {name} must be at most 2**31 - 1, got {tuple(pair)}")


def checked_numel(fn, what, shape, itemsize):
    n = math.prod(shape)
    if n * itemsize > 2 ** 62:
        raise ValueError(f"{fn}: {what} of shape {tuple(shape)} would be too large")
    return n


# ---- arrays

def as_ndarray(fn, name, a, expected):
    if type(a) is np.ndarray:
        return a
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{fn}: {name} must be {expected}, got {type(a).__name__}")
    if isinstance(a, np.ma.MaskedArray):
        raise TypeError(f"{fn}: {name} is a masked array, whose mask the kernels would ignore; pass "
                        f"{name}.filled(value) or np.asarray({name})")
    return np.asarray(a)


def _real_memory(fn, name, a):
    if a.size and any(n > 1 and s == 0 for n, s in zip(a.shape, a.strides)):
        axis = next(i for i, (n, s) in enumerate(zip(a.shape, a.strides)) if n > 1 and s == 0)
        raise ValueError(f"{fn}: {name} with shape {a.shape} is a broadcast view (stride 0 along axis {axis}); "
                         f"pass a real array (np.ascontiguousarray({name}))")


def _aligned(fn, name, a):
    if not a.flags.aligned:
        raise ValueError(f"{fn}: {name} is not aligned to its dtype's size (pass a copy, np.array({name}))")


def _contiguous_aligned(fn, name, a, why=""):
    _real_memory(fn, name, a)
    if not a.flags.c_contiguous:
        raise ValueError(f"{fn}: {name} with shape {a.shape} is not C-contiguous{why} "
                         f"(pass np.ascontiguousarray({name}))")
    _aligned(fn, name, a)


def float_input(fn, name, a, ndim=None):
    a = as_ndarray(fn, name, a, "a numpy.ndarray of float32 or float64")
    if a.dtype not in FLOATS or not a.dtype.isnative:
        raise TypeError(f"{fn}: {name} must have dtype float32 or float64, got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{fn}: {name} must be {ndim}-D, got shape {a.shape}")
    _contiguous_aligned(fn, name, a)
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


def reject_nonfinite(fn, name, a):
    if not np.isfinite(a).all():
        reject_nan(fn, name, a)
        raise ValueError(f"{fn}: {name} with shape {a.shape} contains inf (only finite values are accepted)")


def output(fn, name, out, shape, like):
    """A fresh array, or `out` checked to be writable in place with exactly this shape and dtype."""
    if out is None:
        checked_numel(fn, name, shape, like.itemsize)
        return np.empty(shape, dtype=like.dtype)
    return inout(fn, name, out, like, shape)


def inout(fn, name, a, like, shape, expected="a numpy.ndarray"):
    """An array the kernel writes in place: like's dtype, this shape, contiguous, aligned, writeable."""
    a = as_ndarray(fn, name, a, expected)
    if a.dtype != like.dtype:
        raise TypeError(f"{fn}: {name} must have dtype {like.dtype}, got {a.dtype}")
    same_shape(fn, name, a, shape)
    _contiguous_aligned(fn, name, a, "; the kernel writes in place, so it needs a contiguous array")
    if not a.flags.writeable:
        raise ValueError(f"{fn}: {name} is read-only; the kernel writes into it")
    return a


def int64_output(fn, name, out, shape):
    """A fresh int64 array, or `out` checked to be an int64 array of this shape writable in place."""
    if out is None:
        checked_numel(fn, name, shape, 8)
        return np.empty(shape, dtype=np.int64)
    return inout(fn, name, out, _INT64, shape, "a numpy.ndarray of int64")


_INT64 = np.empty(0, dtype=np.int64)


def is_int_array(a):
    return isinstance(a, np.ndarray) and a.dtype.kind in "iu"


def int_input(fn, name, a, shape):
    """Integer array of exactly `shape` (checked before any conversion) as C-contiguous int64."""
    a = as_ndarray(fn, name, a, "a numpy.ndarray of integers")
    if a.dtype.kind not in "iu":
        raise TypeError(f"{fn}: {name} must have an integer dtype, got {a.dtype}")
    same_shape(fn, name, a, shape)
    _real_memory(fn, name, a)
    _aligned(fn, name, a)
    if a.dtype.kind == "u" and a.itemsize == 8 and (a > np.iinfo(np.int64).max).any():
        raise ValueError(f"{fn}: {name} holds values >= 2**63")
    return np.ascontiguousarray(a, dtype=np.int64)


def _span(a):
    lo = a.__array_interface__["data"][0]
    return lo, lo + a.nbytes


def no_overlap(fn, out_name, out, in_name, a, allow_same=False):
    """ValueError when out shares a byte with a; allow_same: the very same memory is fine (in-place use)."""
    (lo_o, hi_o), (lo_a, hi_a) = _span(out), _span(a)
    if not (lo_o < hi_a and lo_a < hi_o):
        return
    if allow_same and (lo_o, hi_o) == (lo_a, hi_a):
        return
    raise ValueError(f"{fn}: {out_name} shares memory with {in_name}"
                     f"{' without being the very same array' if allow_same else ''}; pass a separate array")
