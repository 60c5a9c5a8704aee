"""Losses: each returns (loss, grad) with grad = d(loss)/d(input), loss reduced by the mean."""
import numpy as np

from ._checks import float_input, output, reject_nan, same_dtype, same_shape

__all__ = ["bce_loss", "bce_with_logits_loss", "mse_loss", "multi_bce_loss", "softmax_cross_entropy"]


def _pair(fn, name, x, target, grad):
    float_input(fn, name, x)
    float_input(fn, "target", target)
    same_dtype(fn, "target", target, name, x)
    same_shape(fn, "target", target, x.shape)
    reject_nan(fn, name, x)
    reject_nan(fn, "target", target)
    return output(fn, "grad", grad, x.shape, x)


def _check_probabilities(fn, target):
    if target.min() < 0 or target.max() > 1:
        raise ValueError(f"{fn}: target values must lie in [0, 1], got range "
                         f"[{target.min():g}, {target.max():g}]")


def _class_targets(fn, logits, target):
    """Integer labels (N,) become one-hot rows; float targets must already be (N, C)."""
    n, c = logits.shape
    if isinstance(target, np.ndarray) and np.issubdtype(target.dtype, np.integer):
        if target.shape != (n,):
            raise ValueError(f"{fn}: integer labels must have shape ({n},) to match logits {logits.shape}, "
                             f"got {target.shape}")
        if target.min() < 0 or target.max() >= c:
            raise ValueError(f"{fn}: labels must lie in [0, {c - 1}] for {c} classes, got range "
                             f"[{target.min()}, {target.max()}]")
        onehot = np.zeros_like(logits)
        onehot[np.arange(n), target] = 1
        return onehot
    float_input(fn, "target", target)
    same_dtype(fn, "target", target, "logits", logits)
    same_shape(fn, "target", target, logits.shape)
    reject_nan(fn, "target", target)
    return target


def mse_loss(pred, target, grad=None):
    """mean((pred - target)^2) over all elements."""
    grad = _pair("mse_loss", "pred", pred, target, grad)
    diff = pred.astype(np.float64) - target
    grad[...] = 2.0 * diff / diff.size
    return float(np.mean(diff * diff)), grad


def bce_loss(prob, target, eps=1e-7, grad=None):
    """Binary cross-entropy on probabilities clipped to [eps, 1 - eps] (mean over all elements).

    The gradient is taken at the clipped probability, -(t/p - (1-t)/(1-p)) / n, as the seed reports do,
    so a saturated unit still gets a (bounded) gradient.
    """
    if not 0 < eps < 0.5:
        raise ValueError(f"bce_loss: eps must lie in (0, 0.5), got {eps}")
    grad = _pair("bce_loss", "prob", prob, target, grad)
    _check_probabilities("bce_loss", target)
    p = np.clip(prob, eps, 1 - eps).astype(np.float64)
    t = target.astype(np.float64)
    loss = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    grad[...] = (p - t) / (p * (1 - p)) / p.size
    return float(loss), grad


def bce_with_logits_loss(logits, target, grad=None):
    """Binary cross-entropy of sigmoid(logits), in the stable form max(z,0) - z t + log(1 + exp(-|z|))."""
    grad = _pair("bce_with_logits_loss", "logits", logits, target, grad)
    _check_probabilities("bce_with_logits_loss", target)
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
    """Mean over the batch of -sum_c t_c log softmax(z)_c; target integer labels (N,) or rows (N, C)."""
    fn = "softmax_cross_entropy"
    float_input(fn, "logits", logits, ndim=2)
    reject_nan(fn, "logits", logits)
    t = _class_targets(fn, logits, target).astype(np.float64)
    grad = output(fn, "grad", grad, logits.shape, logits)
    z = logits.astype(np.float64)
    shifted = z - z.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_p = shifted - log_z
    n = z.shape[0]
    loss = -np.sum(t * log_p) / n
    grad[...] = (np.exp(log_p) * t.sum(axis=1, keepdims=True) - t) / n
    return float(loss), grad


def multi_bce_loss(logits, target, grad=None):
    """One sigmoid per class, binary cross-entropy against one-hot rows, mean over batch and classes."""
    fn = "multi_bce_loss"
    float_input(fn, "logits", logits, ndim=2)
    reject_nan(fn, "logits", logits)
    t = _class_targets(fn, logits, target)
    _check_probabilities(fn, t)
    grad = output(fn, "grad", grad, logits.shape, logits)
    return _bce_logits(logits, t, grad)
