"""The toy 2-D data of the practice reports (seeds 000, 001, 004)."""
import numpy as np


def make_parabola(n, low=-2.0, high=2.0, seed=None, dtype="float32"):
    """``n`` points uniform in ``[low, high)^2``, labelled 1 below the parabola ``x1 = x0**2``
    (``x0**2 > x1``) and 0 above it.

    The rule and range are those of the reports (``create_samples_mul`` in 004: ``X ~ U(-2, 2)^2``,
    ``y = X[:,0]**2 > X[:,1]``); they train on 1000 points and test on 100. About 76% of the points
    are positive.

    Returns ``(x, y)``: ``x`` of shape ``(n, 2)``, ``y`` float labels of shape ``(n, 1)`` (the shape of
    a one-unit sigmoid output, so BCE/MSE take them as they are). ``seed`` is an int, a
    ``numpy.random.Generator`` or None.
    """
    if n < 1:
        raise ValueError(f"make_parabola: n must be >= 1, got {n}")
    if not low < high:
        raise ValueError(f"make_parabola: need low < high, got low={low}, high={high}")
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, size=(n, 2))
    y = (x[:, 0] ** 2 > x[:, 1]).reshape(n, 1)
    return x.astype(dtype), y.astype(dtype)
