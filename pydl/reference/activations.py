"""Activations and their backward passes (backward from the saved forward output)."""
import numpy as np

from ._checks import float_input, output, reject_nan, same_dtype, same_shape

__all__ = ["relu", "relu_backward", "sigmoid", "sigmoid_backward", "softmax", "softmax_backward",
           "tanh", "tanh_backward"]


def _unary(fn, x, out):
    float_input(fn, "x", x)
    reject_nan(fn, "x", x)
    return output(fn, "out", out, x.shape, x)


def _backward(fn, y, dy, out):
    float_input(fn, "y", y)
    float_input(fn, "dy", dy)
    same_dtype(fn, "dy", dy, "y", y)
    same_shape(fn, "dy", dy, y.shape)
    reject_nan(fn, "y", y)
    reject_nan(fn, "dy", dy)
    return output(fn, "out", out, y.shape, y)


def sigmoid(x, out=None):
    """1 / (1 + exp(-x)), computed from exp(-|x|) so no exp overflows for any finite x."""
    out = _unary("sigmoid", x, out)
    e = np.exp(-np.abs(x))
    s = 1.0 / (1.0 + e)
    out[...] = np.where(x >= 0, s, e * s)
    return out


def sigmoid_backward(y, dy, out=None):
    """dx = dy * y * (1 - y), where y = sigmoid(x)."""
    out = _backward("sigmoid_backward", y, dy, out)
    out[...] = dy * y * (1 - y)
    return out


def relu(x, out=None):
    out = _unary("relu", x, out)
    np.maximum(x, 0, out=out)
    return out


def relu_backward(y, dy, out=None):
    """dx = dy where y > 0, else 0 (y = relu(x); the gradient at x = 0 is taken as 0, as PyTorch does)."""
    out = _backward("relu_backward", y, dy, out)
    out[...] = np.where(y > 0, dy, 0)
    return out


def tanh(x, out=None):
    out = _unary("tanh", x, out)
    np.tanh(x, out=out)
    return out


def tanh_backward(y, dy, out=None):
    """dx = dy * (1 - y^2), where y = tanh(x)."""
    out = _backward("tanh_backward", y, dy, out)
    out[...] = dy * (1 - y * y)
    return out


def softmax(x, out=None):
    """Row-wise softmax of a 2-D array, max-subtracted so exp never overflows."""
    float_input("softmax", "x", x, ndim=2)
    reject_nan("softmax", "x", x)
    out = output("softmax", "out", out, x.shape, x)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    out[...] = e / e.sum(axis=1, keepdims=True)
    return out


def softmax_backward(y, dy, out=None):
    """dx = y * (dy - sum(dy * y, axis=1)), where y = softmax(x)."""
    float_input("softmax_backward", "y", y, ndim=2)
    out = _backward("softmax_backward", y, dy, out)
    out[...] = y * (dy - (dy * y).sum(axis=1, keepdims=True))
    return out
