"""2-D convolution and pooling on NCHW arrays, PyTorch semantics (conv2d with dilation 1, groups 1).

Convolution is im2col (a strided view of the zero-padded input) times the weight matrix; its backward
scatters the column gradient back with one strided slice per kernel offset. Pooling loops over output
positions, each window clipped to the input, so padding never takes part (PyTorch's -inf / zero
padding gives the same results).
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._checks import (MAX_STAGED, activation_arg, bool_arg, checked_numel, float_input, geometry_range, int64_output,
                      int_input, int_pair, int_tuple, no_overlap, output, reject_nan, same_dtype, same_shape, str_arg)
from .dense import FUSED

__all__ = ["avg_pool2d_backward", "avg_pool2d_forward", "conv2d_backward", "conv2d_forward",
           "max_pool2d_backward", "max_pool2d_forward"]


def _out_size(fn, in_hw, k, stride, padding):
    """floor((in + 2 pad - k) / stride) + 1 per dimension; ValueError when a window does not fit."""
    out = tuple((i + 2 * p - kk) // s + 1 for i, kk, s, p in zip(in_hw, k, stride, padding))
    if min(out) < 1:
        raise ValueError(f"{fn}: output size would be {out} for input (H, W) = {tuple(in_hw)}, kernel {k}, "
                         f"stride {stride}, padding {padding}; the kernel must fit in the padded input "
                         "(H + 2*padding >= kernel)")
    return out


def _conv_geometry(fn, x, w, stride, padding):
    stride, padding = int_pair(fn, "stride", stride), int_pair(fn, "padding", padding)
    geometry_range(fn, "stride", stride, 1)
    geometry_range(fn, "padding", padding, 0)
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"{fn}: x has {x.shape[1]} input channels (shape {x.shape}, NCHW) but w expects "
                         f"{w.shape[1]} (shape {w.shape}, (C_out, C_in, kH, kW))")
    out = _out_size(fn, x.shape[2:], w.shape[2:], stride, padding)
    # The C++ kernel stages one zero-padded sample per thread: bounded as there.
    span_w = x.shape[3] + 2 * padding[1] - w.shape[3]
    sw = min(stride[1], span_w + 1) if out[1] == 1 else stride[1]
    if padding[0] > 0 or padding[1] > 0 or sw > 1:
        hp, wp = x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1]
        staged = x.shape[1] * hp * (-(-wp // sw) * sw)
        if staged > MAX_STAGED:
            raise ValueError(f"{fn}: the zero-padded sample would hold {staged} elements (C_in x (H + 2*pad_h) x "
                             f"(W + 2*pad_w), padding {padding}), more than the limit 2**28; use less padding")
    return stride, padding, out


def _im2col(x, k, stride, padding, out_hw):
    """(N, C*kH*kW, Ho*Wo): column p holds the input window of output pixel p, rows ordered (c, i, j)."""
    (ph, pw), (sh, sw), (ho, wo) = padding, stride, out_hw
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = sliding_window_view(xp, k, axis=(2, 3))[:, :, ::sh, ::sw][:, :, :ho, :wo]  # (N, C, Ho, Wo, kH, kW)
    return win.transpose(0, 1, 4, 5, 2, 3).reshape(x.shape[0], -1, ho * wo)


def conv2d_forward(x, w, b=None, stride=1, padding=0, activation="none", out=None):
    """2-D convolution, exactly torch.nn.functional.conv2d with dilation=1, groups=1.

    x (N, C_in, H, W), w (C_out, C_in, kH, kW), b (C_out,) or None; stride and padding an int or an (h, w)
    pair (zero padding); activation "none" or "relu" (max(y, 0), fused). Returns y (N, C_out, Ho, Wo),
    Ho = floor((H + 2*pad_h - kH) / stride_h) + 1 (rows/columns that do not fit are dropped), written into
    ``out`` when given. ValueError when Ho or Wo would be < 1, padding < 0, stride < 1, or x and w disagree
    on C_in.
    """
    fn = "conv2d_forward"
    activation = str_arg(fn, "activation", activation)
    x = float_input(fn, "x", x, 4)
    w = float_input(fn, "w", w, 4)
    same_dtype(fn, "w", w, "x", x)
    if b is not None:
        b = float_input(fn, "b", b, 1)
        same_dtype(fn, "b", b, "x", x)
        same_shape(fn, "b", b, (w.shape[0],))
    stride, padding, (ho, wo) = _conv_geometry(fn, x, w, stride, padding)
    activation_arg(fn, activation, 2)
    reject_nan(fn, "x", x)
    reject_nan(fn, "w", w)
    if b is not None:
        reject_nan(fn, "b", b)
    out = output(fn, "out", out, (x.shape[0], w.shape[0], ho, wo), x)
    no_overlap(fn, "out", out, "x", x)
    no_overlap(fn, "out", out, "w", w)
    if b is not None:
        no_overlap(fn, "out", out, "b", b)
    cols = _im2col(x, w.shape[2:], stride, padding, (ho, wo))
    y = w.reshape(w.shape[0], -1) @ cols  # (N, C_out, Ho*Wo)
    if b is not None:
        y += b[:, None]
    out[...] = FUSED[activation](y).reshape(out.shape)
    return out


def conv2d_backward(x, w, dy, stride=1, padding=0, *, need_dx=True, has_bias=True, dx=None, dw=None, db=None):
    """Gradients of y = conv2d_forward(x, w, b, stride, padding) given dy = dL/dy (N, C_out, Ho, Wo).

    Returns (dx, dw, db): dx (N, C_in, H, W) or None when need_dx=False, dw (C_out, C_in, kH, kW), db (C_out,)
    (the sum of dy over N, Ho, Wo) or None when has_bias=False, each written into the array given as dx, dw
    or db (allocated when None).
    """
    fn = "conv2d_backward"
    need_dx, has_bias = bool_arg(fn, "need_dx", need_dx), bool_arg(fn, "has_bias", has_bias)
    x = float_input(fn, "x", x, 4)
    w = float_input(fn, "w", w, 4)
    dy = float_input(fn, "dy", dy, 4)
    same_dtype(fn, "w", w, "x", x)
    same_dtype(fn, "dy", dy, "x", x)
    stride, padding, (ho, wo) = _conv_geometry(fn, x, w, stride, padding)
    same_shape(fn, "dy", dy, (x.shape[0], w.shape[0], ho, wo))
    reject_nan(fn, "x", x)
    reject_nan(fn, "w", w)
    reject_nan(fn, "dy", dy)
    if not need_dx and dx is not None:
        raise ValueError(f"{fn}: dx given with need_dx=False")
    if not has_bias and db is not None:
        raise ValueError(f"{fn}: db given with has_bias=False")
    outputs = [("dw", output(fn, "dw", dw, w.shape, x))]
    if need_dx:
        outputs.append(("dx", output(fn, "dx", dx, x.shape, x)))
    if has_bias:
        outputs.append(("db", output(fn, "db", db, (w.shape[0],), x)))
    for i, (name, a) in enumerate(outputs):
        for in_name, b in (("x", x), ("w", w), ("dy", dy)):
            no_overlap(fn, name, a, in_name, b)
        for other, b in outputs[:i]:
            no_overlap(fn, name, a, other, b)
    out = dict(outputs)
    n, c_in, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    dy2 = dy.reshape(n, c_out, ho * wo)
    cols = _im2col(x, (kh, kw), stride, padding, (ho, wo))
    out["dw"][...] = np.tensordot(dy2, cols, axes=([0, 2], [0, 2])).reshape(w.shape)
    if has_bias:
        out["db"][...] = dy.sum(axis=(0, 2, 3))
    if need_dx:
        (ph, pw), (sh, sw) = padding, stride
        dcols = (w.reshape(c_out, -1).T @ dy2).reshape(n, c_in, kh, kw, ho, wo)
        dxp = np.zeros((n, c_in, h + 2 * ph, wd + 2 * pw), dtype=x.dtype)
        for i in range(kh):
            for j in range(kw):
                dxp[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw] += dcols[:, :, i, j]
        out["dx"][...] = dxp[:, :, ph:ph + h, pw:pw + wd]
    return out.get("dx"), out["dw"], out.get("db")


def _pool_geometry(fn, x_shape, kernel_size, stride, padding):
    k = int_pair(fn, "kernel_size", kernel_size)
    stride = k if stride is None else int_pair(fn, "stride", stride)
    padding = int_pair(fn, "padding", padding)
    geometry_range(fn, "kernel_size", k, 1)
    geometry_range(fn, "stride", stride, 1)
    geometry_range(fn, "padding", padding, 0)
    if padding[0] > k[0] // 2 or padding[1] > k[1] // 2:
        raise ValueError(f"{fn}: padding {padding} must be at most half the kernel size {k} (as in PyTorch), "
                         "so every window holds an input element")
    return k, stride, padding, _out_size(fn, x_shape[2:], k, stride, padding)


def _windows(x_shape, k, stride, padding, out_hw):
    """Yields (oh, ow, rows, cols): each output position and its window clipped to the input."""
    h, w = x_shape[2:]
    for oh in range(out_hw[0]):
        h0 = oh * stride[0] - padding[0]
        for ow in range(out_hw[1]):
            w0 = ow * stride[1] - padding[1]
            yield oh, ow, slice(max(h0, 0), min(h0 + k[0], h)), slice(max(w0, 0), min(w0 + k[1], w))


def _x_shape(fn, x_shape, dy):
    shape = int_tuple(fn, "x_shape", x_shape, 4)
    if min(shape) < 1:
        raise ValueError(f"{fn}: x_shape must be positive, got {shape}")
    checked_numel(fn, "dx", shape, dy.itemsize)
    return shape


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, out=None, argmax=None):
    """2-D max pooling, torch.nn.functional.max_pool2d(x, kernel_size, stride, padding, return_indices=True).

    x (N, C, H, W); kernel_size, stride (None: kernel_size) and padding an int or an (h, w) pair; padding is
    -inf and at most half the kernel. Returns (y, argmax): y (N, C, Ho, Wo), Ho = floor((H + 2*pad_h - kH) /
    stride_h) + 1, and argmax int64 of y's shape, the flat index ih * W + iw of each maximum in its (H, W)
    input plane (the first in row-major order on ties); written into out and argmax when given.
    """
    fn = "max_pool2d_forward"
    x = float_input(fn, "x", x, 4)
    k, stride, padding, (ho, wo) = _pool_geometry(fn, x.shape, kernel_size, stride, padding)
    reject_nan(fn, "x", x)
    n, c, _, w = x.shape
    y = output(fn, "out", out, (n, c, ho, wo), x)
    argmax = int64_output(fn, "argmax", argmax, (n, c, ho, wo))
    no_overlap(fn, "out", y, "x", x)
    no_overlap(fn, "argmax", argmax, "x", x)
    no_overlap(fn, "argmax", argmax, "out", y)
    for oh, ow, rows, cols in _windows(x.shape, k, stride, padding, (ho, wo)):
        win = x[:, :, rows, cols].reshape(n, c, -1)
        best = win.argmax(axis=2)  # the first maximum on ties
        y[:, :, oh, ow] = np.take_along_axis(win, best[:, :, None], axis=2)[:, :, 0]
        win_w = cols.stop - cols.start
        argmax[:, :, oh, ow] = (rows.start + best // win_w) * w + cols.start + best % win_w
    return y, argmax


def max_pool2d_backward(dy, argmax, x_shape, out=None):
    """Gradient of max_pool2d_forward: dx of shape x_shape (N, C, H, W), zero except that each dy element is
    added at its argmax (overlapping windows accumulate), written into out when given. argmax: the int64 array
    max_pool2d_forward returned.
    """
    fn = "max_pool2d_backward"
    dy = float_input(fn, "dy", dy, 4)
    argmax = int_input(fn, "argmax", argmax, dy.shape)
    n, c, h, w = _x_shape(fn, x_shape, dy)
    if (n, c) != dy.shape[:2]:
        raise ValueError(f"{fn}: x_shape {(n, c, h, w)} must share N and C with dy {dy.shape}")
    reject_nan(fn, "dy", dy)
    bad = (argmax < 0) | (argmax >= h * w)
    if bad.any():
        raise ValueError(f"{fn}: argmax holds {argmax[bad][0]}, outside [0, H*W) = [0, {h * w}) "
                         f"for x_shape {(n, c, h, w)}")
    dx = output(fn, "out", out, (n, c, h, w), dy)
    no_overlap(fn, "out", dx, "dy", dy)
    no_overlap(fn, "out", dx, "argmax", argmax)
    flat = np.zeros((n * c, h * w), dtype=dy.dtype)
    planes = np.arange(n * c).reshape(n, c, 1)
    np.add.at(flat, (planes, argmax.reshape(n, c, -1)), dy.reshape(n, c, -1))
    dx[...] = flat.reshape(n, c, h, w)
    return dx


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0, out=None):
    """2-D average pooling, torch.nn.functional.avg_pool2d with count_include_pad=True, ceil_mode=False.

    x (N, C, H, W); kernel_size, stride (None: kernel_size) and padding an int or an (h, w) pair, padding at
    most half the kernel. Every window's sum, zero padding included, is divided by kH * kW.
    Returns y (N, C, Ho, Wo), written into out when given.
    """
    fn = "avg_pool2d_forward"
    x = float_input(fn, "x", x, 4)
    k, stride, padding, (ho, wo) = _pool_geometry(fn, x.shape, kernel_size, stride, padding)
    reject_nan(fn, "x", x)
    scale = x.dtype.type(1.0 / (float(k[0]) * float(k[1])))  # as in C++: the product may exceed int64
    y = output(fn, "out", out, x.shape[:2] + (ho, wo), x)
    no_overlap(fn, "out", y, "x", x)
    for oh, ow, rows, cols in _windows(x.shape, k, stride, padding, (ho, wo)):
        y[:, :, oh, ow] = x[:, :, rows, cols].sum(axis=(2, 3)) * scale
    return y


def avg_pool2d_backward(dy, x_shape, kernel_size, stride=None, padding=0, out=None):
    """Gradient of avg_pool2d_forward: dx of shape x_shape (N, C, H, W), each dy element spread as
    dy / (kH * kW) over the input elements of its window, written into out when given. dy must have the
    forward output's shape.
    """
    fn = "avg_pool2d_backward"
    dy = float_input(fn, "dy", dy, 4)
    x_shape = _x_shape(fn, x_shape, dy)
    k, stride, padding, (ho, wo) = _pool_geometry(fn, x_shape, kernel_size, stride, padding)
    same_shape(fn, "dy", dy, x_shape[:2] + (ho, wo))
    reject_nan(fn, "dy", dy)
    scale = dy.dtype.type(1.0 / (float(k[0]) * float(k[1])))
    dx = output(fn, "out", out, x_shape, dy)
    no_overlap(fn, "out", dx, "dy", dy)
    dx[...] = 0
    for oh, ow, rows, cols in _windows(x_shape, k, stride, padding, (ho, wo)):
        dx[:, :, rows, cols] += (dy[:, :, oh, ow] * scale)[:, :, None, None]
    return dx
