"""Argument checks of :func:`pydl.data._kernel.gather_transform` and its NumPy twin: one function, so the
compiled kernel and the twin refuse the same inputs with the same messages, before anything is written."""
import numpy as np

from ..reference._checks import int_arg

_SOURCES = (np.uint8, np.float32, np.float64)
_MAX_SHIFT = 2 ** 31 - 1  # keeps every index computation of the kernel far from overflow


def _array(fn, name, a, dtypes, ndim, what):
    if type(a) is not np.ndarray:
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype.type not in dtypes:
        raise TypeError(f"{fn}: {name} must be {what}, got dtype {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{fn}: {name} must have {ndim} dimension(s), got shape {a.shape}")
    if not a.flags.c_contiguous or not a.flags.aligned:
        raise ValueError(f"{fn}: {name} must be C-contiguous and aligned")
    return a


def _per_sample(fn, name, a, b, dtypes, what):
    a = _array(fn, name, a, dtypes, 1, what)
    if a.shape[0] != b:
        raise ValueError(f"{fn}: {name} must have shape ({b},), got {a.shape}")
    return a


def gather_transform_args(fn, x, index, out, shift_y, shift_x, flip, mean, scale, threads):
    """The checked arguments, with None shifts/flips as zero arrays and ``flip`` as uint8."""
    x = _array(fn, "x", x, _SOURCES, 4, "uint8, float32 or float64")
    out = _array(fn, "out", out, (np.float32, np.float64), 4, "float32 or float64")
    if not out.flags.writeable:
        raise ValueError(f"{fn}: out is read-only")
    b, c = out.shape[0], out.shape[1]
    if x.shape[0] == 0 or min(x.shape[1:]) == 0 or b == 0 or min(out.shape[1:]) == 0:
        raise ValueError(f"{fn}: x {x.shape} and out {out.shape} must not be empty")
    if c != x.shape[1]:
        raise ValueError(f"{fn}: out has {c} channels but x has {x.shape[1]} (x {x.shape}, out {out.shape})")
    index = _per_sample(fn, "index", index, b, (np.int64,), "int64")
    if index.min() < 0 or index.max() >= x.shape[0]:
        raise ValueError(f"{fn}: index must lie in [0, {x.shape[0]}), got {index.min()}..{index.max()}")
    shifts = []
    for name, s in (("shift_y", shift_y), ("shift_x", shift_x)):
        if s is None:
            s = np.zeros(b, np.int64)
        s = _per_sample(fn, name, s, b, (np.int64,), "int64")
        if np.abs(s).max() > _MAX_SHIFT:
            raise ValueError(f"{fn}: {name} must lie in [-{_MAX_SHIFT}, {_MAX_SHIFT}]")
        shifts.append(s)
    if flip is None:
        flip = np.zeros(b, np.uint8)
    flip = _per_sample(fn, "flip", flip, b, (np.bool_, np.uint8), "bool or uint8").view(np.uint8)
    if (mean is None) != (scale is None):
        raise ValueError(f"{fn}: mean and scale must be given together")
    if mean is not None:
        channels, features = out.shape[1], out[0].size
        for name, a in (("mean", mean), ("scale", scale)):
            _array(fn, name, a, (out.dtype.type,), 1, f"{out.dtype} (out's dtype)")
            if a.shape[0] not in (channels, features):
                raise ValueError(f"{fn}: {name} must have shape ({channels},) (one value per channel) or "
                                 f"({features},) (one per output feature), got {a.shape}")
        if mean.shape != scale.shape:
            raise ValueError(f"{fn}: mean and scale must have the same shape, got {mean.shape} and {scale.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(scale).all()):
            raise ValueError(f"{fn}: mean and scale must be finite")
    if np.shares_memory(out, x) or any(np.shares_memory(out, a) for a in (index, *shifts, flip, mean, scale)
                                       if a is not None):
        raise ValueError(f"{fn}: out must not overlap an input")
    threads = int_arg(fn, "threads", threads)
    if not 1 <= threads <= 1024:
        raise ValueError(f"{fn}: threads must be in [1, 1024], got {threads}")
    return x, index, out, shifts[0], shifts[1], flip, mean, scale, threads
