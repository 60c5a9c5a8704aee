"""Losses: each returns (loss, grad) with grad = d(loss)/d(input), loss reduced by the mean."""
import numpy as np

from ._checks import (float_arg, float_input, int_input, is_int_array, no_overlap, output, reject_nonfinite,
                      same_dtype, same_shape)

__all__ = ["bce_loss", "bce_with_logits_loss", "mse_loss", "multi_bce_loss", "softmax_cross_entropy"]


def _pair(fn, name, x, target, grad, unit_target):
    """(x, target, grad): one shape and dtype, both finite, grad sharing memory with neither."""
    x = float_input(fn, name, x)
    target = float_input(fn, "target", target)
    same_dtype(fn, "target", target, name, x)
    same_shape(fn, "target", target, x.shape)
    grad = output(fn, "grad", grad, x.shape, x)
    no_overlap(fn, "grad", grad, name, x)
    no_overlap(fn, "grad", grad, "target", target)
    reject_nonfinite(fn, name, x)
    reject_nonfinite(fn, "target", target)
    if unit_target:
        _check_probabilities(fn, target)
    return x, target, grad


def _check_probabilities(fn, target):
    if target.min() < 0 or target.max() > 1:
        raise ValueError(f"{fn}: target values must lie in [0, 1], got range "
                         f"[{target.min():g}, {target.max():g}]")


def _class_setup(fn, logits, target, grad):
    """(logits, target, grad, labels) for the two class losses; labels is None for (N, C) float rows."""
    logits = float_input(fn, "logits", logits, ndim=2)
    n, c = logits.shape
    if is_int_array(target):
        if target.ndim == 1 and target.shape[0] != n:
            raise ValueError(f"{fn}: integer labels must have shape ({n},) to match logits {logits.shape}, "
                             f"got {target.shape}")
        labels = int_input(fn, "target", target, (n,))
        if labels.min() < 0 or labels.max() >= c:
            bad = int(np.flatnonzero((labels < 0) | (labels >= c))[0])
            raise ValueError(f"{fn}: label {labels[bad]} at index {bad} is out of range for {c} classes "
                             f"(logits {logits.shape})")
        grad = output(fn, "grad", grad, logits.shape, logits)
        no_overlap(fn, "grad", grad, "logits", logits)
        no_overlap(fn, "grad", grad, "target", labels)
        reject_nonfinite(fn, "logits", logits)
        onehot = np.zeros_like(logits)
        onehot[np.arange(n), labels] = 1
        return logits, onehot, grad, labels
    return logits, target, grad, None


def mse_loss(pred, target, grad=None):
    """mean((pred - target)^2) over all elements."""
    pred, target, grad = _pair("mse_loss", "pred", pred, target, grad, False)
    diff = pred.astype(np.float64) - target
    grad[...] = 2.0 * diff / diff.size
    return float(np.mean(diff * diff)), grad


def bce_loss(prob, target, eps=1e-7, grad=None):
    """Binary cross-entropy on probabilities clipped to [eps, 1 - eps] (mean over all elements).

    The gradient is taken at the clipped probability, -(t/p - (1-t)/(1-p)) / n, as the seed reports do,
    so a saturated unit still gets a (bounded) gradient. Terms and gradient are computed in the input's
    dtype (the mean accumulated in float64), element by element as the kernel does (cpu/losses_impl.h):
    a target of 0 or 1 takes the one-log form log q, q = t p + (1 - t)(1 - p) (exactly p or 1 - p), with
    gradient ((1 - 2t) / n) / q; other targets t log p + (1 - t) log(1 - p) and (p - t) / (p (1 - p)) / n.
    The one-log form needs both clip bounds strictly inside (0, 1) in the dtype (a tiny eps may round to 0).
    """
    eps = float_arg("bce_loss", "eps", eps)
    if not 0 < eps < 0.5:
        raise ValueError(f"bce_loss: eps must lie in (0, 0.5), got {eps}")
    prob, target, grad = _pair("bce_loss", "prob", prob, target, grad, True)
    real = prob.dtype.type
    lo, hi = real(eps), real(1) - real(eps)
    p = np.clip(prob, lo, hi)
    t = target
    inv_n = real(1.0 / p.size)
    hard = ((t == 0) | (t == 1)) & (lo > 0) & (hi < 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = t * p + (1 - t) * (1 - p)
        terms = np.where(hard, np.log(q), t * np.log(p) + (1 - t) * np.log(1 - p))
        grad[...] = np.where(hard, ((1 - 2 * t) * inv_n) / q, (p - t) / (p * (1 - p)) * inv_n)
    loss = -np.sum(terms, dtype=np.float64) / p.size
    return float(loss), grad


def bce_with_logits_loss(logits, target, grad=None):
    """Binary cross-entropy of sigmoid(logits), in the stable form max(z,0) - z t + log(1 + exp(-|z|))."""
    logits, target, grad = _pair("bce_with_logits_loss", "logits", logits, target, grad, True)
    return _bce_logits(logits, target, grad)


def _bce_logits(logits, target, grad):
    z = logits.astype(np.float64)
    t = target.astype(np.float64)
    loss = np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))))
    e = np.exp(-np.abs(z))
    sig = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    grad[...] = (sig - t) / z.size
    return float(loss), grad


def softmax_cross_entropy(logits, target, grad=None):
    """Mean over the batch of -sum_c t_c log softmax(z)_c; target integer labels (N,) or rows (N, C) in [0, 1].

    The loss is taken from the max-shifted logits, so [[c, c]] gives log 2 for every finite c; a zero
    target contributes nothing even where its log-probability underflows to -inf.
    """
    fn = "softmax_cross_entropy"
    logits, t, grad, labels = _class_setup(fn, logits, target, grad)
    if labels is None:
        t = float_input(fn, "target", t)
        same_dtype(fn, "target", t, "logits", logits)
        same_shape(fn, "target", t, logits.shape)
        grad = output(fn, "grad", grad, logits.shape, logits)
        no_overlap(fn, "grad", grad, "logits", logits)
        no_overlap(fn, "grad", grad, "target", t)
        reject_nonfinite(fn, "logits", logits)
        reject_nonfinite(fn, "target", t)
        _check_probabilities(fn, t)
    t = t.astype(np.float64)
    z = logits.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # z - max may overflow to -inf; 0 * -inf is dropped
        shifted = z - z.max(axis=1, keepdims=True)
        log_z = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        log_p = shifted - log_z
        n = z.shape[0]
        loss = -np.sum(np.where(t != 0, t * log_p, 0.0)) / n
    grad[...] = (np.exp(log_p) * t.sum(axis=1, keepdims=True) - t) / n
    return float(loss), grad


def multi_bce_loss(logits, target, grad=None):
    """One sigmoid per class, binary cross-entropy against one-hot rows, mean over batch and classes."""
    fn = "multi_bce_loss"
    logits, t, grad, labels = _class_setup(fn, logits, target, grad)
    if labels is None:
        logits, t, grad = _pair(fn, "logits", logits, t, grad, True)
    return _bce_logits(logits, t, grad)
