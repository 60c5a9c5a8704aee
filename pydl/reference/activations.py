"""Activations and their backward passes (backward from the saved forward output)."""
import numpy as np

from ._checks import (fits_dtype, float_arg, float_input, no_overlap, output, reject_nan, reject_nonfinite, same_dtype,
                      same_shape)

__all__ = ["leaky_relu", "leaky_relu_backward", "relu", "relu_backward", "sigmoid", "sigmoid_backward", "softmax", "softmax_backward",
           "tanh", "tanh_backward"]


def _unary(fn, x, out):
    """(x, out): out may be x itself (element-wise, in place), never a partly overlapping view."""
    x = float_input(fn, "x", x)
    out = output(fn, "out", out, x.shape, x)
    no_overlap(fn, "out", out, "x", x, allow_same=True)
    reject_nan(fn, "x", x)
    return x, out


def _backward(fn, y, dy, out, ndim=None):
    y = float_input(fn, "y", y, ndim)
    dy = float_input(fn, "dy", dy)
    same_dtype(fn, "dy", dy, "y", y)
    same_shape(fn, "dy", dy, y.shape)
    out = output(fn, "out", out, y.shape, y)
    no_overlap(fn, "out", out, "y", y, allow_same=True)
    no_overlap(fn, "out", out, "dy", dy, allow_same=True)
    reject_nan(fn, "y", y)
    reject_nan(fn, "dy", dy)
    return y, dy, out


def sigmoid(x, out=None, clip=None):
    """1 / (1 + exp(-x)), computed from exp(-|x|) so no exp overflows for any finite x; ``clip`` in
    (0, 0.5) then clips the result to [clip, 1 - clip] (report 004's clipped sigmoid)."""
    if clip is not None:
        clip = float_arg("sigmoid", "clip", clip)
        if not 0 < clip < 0.5:
            raise ValueError(f"sigmoid: clip must lie in (0, 0.5), got {clip}")
    x, out = _unary("sigmoid", x, out)
    e = np.exp(-np.abs(x))
    s = 1.0 / (1.0 + e)
    out[...] = np.where(x >= 0, s, e * s)
    if clip is not None:
        np.clip(out, clip, 1.0 - clip, out=out)
    return out


def sigmoid_backward(y, dy, out=None):
    """dx = dy * y * (1 - y), where y = sigmoid(x)."""
    y, dy, out = _backward("sigmoid_backward", y, dy, out)
    out[...] = dy * y * (1 - y)
    return out


def relu(x, out=None):
    x, out = _unary("relu", x, out)
    np.maximum(x, 0, out=out)
    return out


def relu_backward(y, dy, out=None):
    """dx = dy where y > 0, else 0 (y = relu(x); the gradient at x = 0 is taken as 0, as PyTorch does)."""
    y, dy, out = _backward("relu_backward", y, dy, out)
    out[...] = np.where(y > 0, dy, 0)
    return out


def _slope(fn, slope, like):
    slope = float_arg(fn, "negative_slope", slope)
    if not slope >= 0:
        raise ValueError(f"{fn}: negative_slope must be >= 0, got {slope}")
    fits_dtype(fn, "negative_slope", slope, like)
    return slope


def leaky_relu(x, out=None, negative_slope=0.01):
    """x where x > 0, else negative_slope * x (negative_slope >= 0, so backward can work from the output)."""
    fn = "leaky_relu"
    x = float_input(fn, "x", x)
    slope = _slope(fn, negative_slope, x)
    out = output(fn, "out", out, x.shape, x)
    no_overlap(fn, "out", out, "x", x, allow_same=True)
    reject_nan(fn, "x", x)
    out[...] = np.where(x > 0, x, x * x.dtype.type(slope))
    return out


def leaky_relu_backward(y, dy, out=None, negative_slope=0.01):
    """dx = dy where y > 0, else negative_slope * dy (y = leaky_relu(x); at x = 0 the slope, as PyTorch)."""
    fn = "leaky_relu_backward"
    y = float_input(fn, "y", y)
    dy = float_input(fn, "dy", dy)
    same_dtype(fn, "dy", dy, "y", y)
    same_shape(fn, "dy", dy, y.shape)
    slope = _slope(fn, negative_slope, y)
    out = output(fn, "out", out, y.shape, y)
    no_overlap(fn, "out", out, "y", y, allow_same=True)
    no_overlap(fn, "out", out, "dy", dy, allow_same=True)
    reject_nan(fn, "y", y)
    reject_nan(fn, "dy", dy)
    out[...] = np.where(y > 0, dy, dy * y.dtype.type(slope))
    return out


def tanh(x, out=None):
    x, out = _unary("tanh", x, out)
    np.tanh(x, out=out)
    return out


def tanh_backward(y, dy, out=None):
    """dx = dy * (1 - y^2), where y = tanh(x)."""
    y, dy, out = _backward("tanh_backward", y, dy, out)
    out[...] = dy * (1 - y * y)
    return out


def softmax(x, out=None):
    """Row-wise softmax of a 2-D finite array, max-subtracted so exp never overflows."""
    x = float_input("softmax", "x", x, ndim=2)
    out = output("softmax", "out", out, x.shape, x)
    no_overlap("softmax", "out", out, "x", x, allow_same=True)
    reject_nonfinite("softmax", "x", x)  # an inf would make its row NaN
    e = np.exp(x - x.max(axis=1, keepdims=True))
    out[...] = e / e.sum(axis=1, keepdims=True)
    return out


def softmax_backward(y, dy, out=None):
    """dx = y * (dy - sum(dy * y, axis=1)), where y = softmax(x)."""
    y, dy, out = _backward("softmax_backward", y, dy, out, ndim=2)
    out[...] = y * (dy - (dy * y).sum(axis=1, keepdims=True))
    return out
