"""Inverted dropout with a counter-based generator: the mask of element i depends only on (seed, i)."""
import math

import numpy as np

from ._checks import float_arg, float_input, int_arg, no_overlap, output, reject_nan, same_dtype, same_shape

__all__ = ["dropout_backward", "dropout_forward"]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # SplitMix64's increment


def _mix(z):
    """SplitMix64's finaliser on a uint64 array (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def dropout_bits(seed, n):
    """The 32 random bits of elements 0..n-1: SplitMix64's output for (mix(seed), i // 2), its high half for
    even i and its low half for odd i."""
    key = _mix(np.array([seed], dtype=np.uint64))
    z = _mix(key + np.arange(1, (n + 1) // 2 + 1, dtype=np.uint64) * _GAMMA)
    return np.stack([z >> np.uint64(32), z & np.uint64(0xFFFFFFFF)], axis=1).reshape(-1)[:n]


def dropout_forward(x, p, seed, out=None, mask=None):
    """mask = 1/(1-p) where bits(seed, i) >= p * 2**32 else 0 (i the flat index), out = x * mask; returns
    (out, mask)."""
    fn = "dropout_forward"
    x = float_input(fn, "x", x)
    p = float_arg(fn, "p", p)
    if not 0 <= p < 1:
        raise ValueError(f"{fn}: p must lie in [0, 1), got {p}")
    seed = int_arg(fn, "seed", seed)
    if seed < 0:
        raise ValueError(f"{fn}: seed must be >= 0, got {seed}")
    out = output(fn, "out", out, x.shape, x)
    mask = output(fn, "mask", mask, x.shape, x)
    no_overlap(fn, "out", out, "x", x, allow_same=True)
    no_overlap(fn, "mask", mask, "x", x)
    no_overlap(fn, "mask", mask, "out", out)
    reject_nan(fn, "x", x)
    keep = dropout_bits(seed, x.size).reshape(x.shape) >= np.uint64(math.ceil(p * 2.0 ** 32))
    mask[...] = np.where(keep, x.dtype.type(1.0 / (1.0 - p)), 0)
    out[...] = x * mask
    return out, mask


def dropout_backward(dy, mask, out=None):
    """dx = dy * mask."""
    fn = "dropout_backward"
    dy = float_input(fn, "dy", dy)
    mask = float_input(fn, "mask", mask)
    same_dtype(fn, "mask", mask, "dy", dy)
    same_shape(fn, "mask", mask, dy.shape)
    out = output(fn, "out", out, dy.shape, dy)
    no_overlap(fn, "out", out, "dy", dy, allow_same=True)
    no_overlap(fn, "out", out, "mask", mask, allow_same=True)
    reject_nan(fn, "dy", dy)
    reject_nan(fn, "mask", mask)
    out[...] = dy * mask
    return out
