"""Batch normalization (PyTorch's BatchNorm1d/2d): per-channel statistics of x (N, C, ...) in float64."""
import numpy as np

from ._checks import (bool_arg, fits_dtype, float_arg, float_input, inout, no_overlap, output, reject_nan,
                      same_dtype, same_shape)

__all__ = ["batch_norm_backward", "batch_norm_forward", "batch_norm_inference"]


def _as_ncl(fn, x):
    if x.ndim < 2:
        raise ValueError(f"{fn}: x must have shape (N, C, ...), got {x.shape}")
    return x.reshape(x.shape[0], x.shape[1], -1)


def _channel(fn, name, a, x, c):
    a = float_input(fn, name, a)
    same_dtype(fn, name, a, "x", x)
    same_shape(fn, name, a, (c,))
    return a


def _eps(fn, eps, x):
    eps = float_arg(fn, "eps", eps)
    if not eps > 0:
        raise ValueError(f"{fn}: eps must be > 0, got {eps}")
    fits_dtype(fn, "eps", eps, x)
    return eps


def _no_overlaps(fn, outs, everything):
    for oname, o in outs:
        for name, a in everything:
            if not (o is a and oname == name):
                no_overlap(fn, oname, o, name, a)


def _normalize(x3, mean, invstd, gamma, beta):
    c = (slice(None), None)
    return ((x3.astype(np.float64) - mean[c]) * invstd[c] * gamma[c].astype(np.float64)
            + beta[c].astype(np.float64))


def batch_norm_forward(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5, *, out=None, mean=None,
                       invstd=None):
    """Training: normalize per channel with the batch mean and biased variance, scale by gamma, shift by
    beta; running_mean/running_var (unbiased variance) move by momentum. Returns (out, mean, invstd)."""
    fn = "batch_norm_forward"
    x = float_input(fn, "x", x)
    x3 = _as_ncl(fn, x)
    n, c, l = x3.shape
    gamma, beta = _channel(fn, "gamma", gamma, x, c), _channel(fn, "beta", beta, x, c)
    running_mean = inout(fn, "running_mean", running_mean, x, (c,))
    running_var = inout(fn, "running_var", running_var, x, (c,))
    momentum = float_arg(fn, "momentum", momentum)
    if not 0 <= momentum <= 1:
        raise ValueError(f"{fn}: momentum must lie in [0, 1], got {momentum}")
    eps = _eps(fn, eps, x)
    if n * l < 2:
        raise ValueError(f"{fn}: training needs more than 1 value per channel, got x of shape {x.shape}")
    out = output(fn, "out", out, x.shape, x)
    mean = output(fn, "mean", mean, (c,), x)
    invstd = output(fn, "invstd", invstd, (c,), x)
    no_overlap(fn, "out", out, "x", x, allow_same=True)
    ins = [("gamma", gamma), ("beta", beta), ("running_mean", running_mean), ("running_var", running_var)]
    _no_overlaps(fn, [("out", out)], ins + [("mean", mean), ("invstd", invstd)])
    _no_overlaps(fn, [("running_mean", running_mean), ("running_var", running_var), ("mean", mean),
                      ("invstd", invstd)], ins + [("mean", mean), ("invstd", invstd), ("x", x)])
    for name, a in [("x", x)] + ins:
        reject_nan(fn, name, a)
    v = x3.astype(np.float64)
    mu = v.mean(axis=(0, 2))
    sq = ((v - mu[None, :, None]) ** 2).sum(axis=(0, 2))
    m = n * l
    mean[...] = mu
    invstd[...] = 1.0 / np.sqrt(sq / m + eps)
    running_mean[...] = momentum * mu + (1 - momentum) * running_mean.astype(np.float64)
    running_var[...] = momentum * (sq / (m - 1)) + (1 - momentum) * running_var.astype(np.float64)
    # From the saved (rounded) statistics, as the C++ kernel, so backward works from what forward used.
    out[...] = _normalize(x3, mean.astype(np.float64), invstd.astype(np.float64), gamma, beta).reshape(x.shape)
    return out, mean, invstd


def batch_norm_inference(x, gamma, beta, running_mean, running_var, eps=1e-5, *, out=None):
    """Eval: normalize per channel with the running statistics, scale by gamma, shift by beta."""
    fn = "batch_norm_inference"
    x = float_input(fn, "x", x)
    x3 = _as_ncl(fn, x)
    c = x3.shape[1]
    gamma, beta = _channel(fn, "gamma", gamma, x, c), _channel(fn, "beta", beta, x, c)
    running_mean = _channel(fn, "running_mean", running_mean, x, c)
    running_var = _channel(fn, "running_var", running_var, x, c)
    eps = _eps(fn, eps, x)
    out = output(fn, "out", out, x.shape, x)
    no_overlap(fn, "out", out, "x", x, allow_same=True)
    ins = [("gamma", gamma), ("beta", beta), ("running_mean", running_mean), ("running_var", running_var)]
    _no_overlaps(fn, [("out", out)], ins)
    for name, a in [("x", x)] + ins:
        reject_nan(fn, name, a)
    with np.errstate(invalid="ignore"):  # a negative running variance gives NaN, as in C++
        invstd = 1.0 / np.sqrt(running_var.astype(np.float64) + eps)
    out[...] = _normalize(x3, running_mean.astype(np.float64), invstd, gamma, beta).reshape(x.shape)
    return out


def batch_norm_backward(x, gamma, dy, mean, invstd, *, need_dx=True, dx=None, dgamma=None, dbeta=None):
    """dgamma = sum(dy * xhat), dbeta = sum(dy) per channel; dx = (dy - mean(dy) - (x - mean) * sum((x -
    mean) * dy) * invstd^2 / m) * invstd * gamma (PyTorch's form). Returns (dx or None, dgamma, dbeta)."""
    fn = "batch_norm_backward"
    x = float_input(fn, "x", x)
    x3 = _as_ncl(fn, x)
    n, c, l = x3.shape
    gamma = _channel(fn, "gamma", gamma, x, c)
    dy = float_input(fn, "dy", dy)
    same_dtype(fn, "dy", dy, "x", x)
    same_shape(fn, "dy", dy, x.shape)
    mean, invstd = _channel(fn, "mean", mean, x, c), _channel(fn, "invstd", invstd, x, c)
    need_dx = bool_arg(fn, "need_dx", need_dx)
    dx = output(fn, "dx", dx, x.shape, x) if need_dx else None
    dgamma = output(fn, "dgamma", dgamma, (c,), x)
    dbeta = output(fn, "dbeta", dbeta, (c,), x)
    everything = [("x", x), ("gamma", gamma), ("dy", dy), ("mean", mean), ("invstd", invstd), ("dgamma", dgamma),
                  ("dbeta", dbeta)]
    if need_dx:
        no_overlap(fn, "dx", dx, "dy", dy, allow_same=True)
        _no_overlaps(fn, [("dx", dx)], [e for e in everything if e[0] != "dy"])
    _no_overlaps(fn, [("dgamma", dgamma), ("dbeta", dbeta)], everything)
    for name, a in everything[:5]:
        reject_nan(fn, name, a)
    mu, inv = mean.astype(np.float64)[None, :, None], invstd.astype(np.float64)
    centered = x3.astype(np.float64) - mu
    g = dy.reshape(n, c, l).astype(np.float64)
    sum_dy = g.sum(axis=(0, 2))
    dot = (centered * g).sum(axis=(0, 2))
    m = n * l
    if need_dx:
        proj = (dot * inv * inv / m)[None, :, None]
        scale = (inv * gamma.astype(np.float64))[None, :, None]
        dx[...] = ((g - (sum_dy / m)[None, :, None] - centered * proj) * scale).reshape(x.shape)
    dgamma[...] = dot * inv
    dbeta[...] = sum_dy
    return dx, dgamma, dbeta
