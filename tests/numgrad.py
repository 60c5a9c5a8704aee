"""Centered-difference gradients for the backward-pass tests (float64 only: float32 is too coarse)."""
import numpy as np


def numerical_grad(f, a, eps=1e-6):
    """d f() / d a by centered differences, perturbing `a` in place (restored afterwards)."""
    g = np.empty_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + eps
        hi = f()
        a[i] = old - eps
        lo = f()
        a[i] = old
        g[i] = (hi - lo) / (2 * eps)
    return g


def rel_err(a, b):
    """Relative error of two gradients as a whole: ||a - b|| / max(||a||, ||b||)."""
    return np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-300)
