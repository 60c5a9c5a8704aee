"""Metrics on NumPy arrays."""
import numpy as np

__all__ = ["accuracy", "to_labels"]


def to_labels(y):
    """Class labels (N,) from labels, one-hot/probability rows (N, C) or single probabilities (N,)/(N, 1).

    Integer labels pass through, and so do float labels holding whole numbers (``y.astype(float)`` of
    class labels, as ``Network.evaluate`` reads them); other floats in a column are probabilities,
    thresholded at 0.5; rows of several columns take the arg-max.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1)
    y = y.reshape(-1)
    if np.issubdtype(y.dtype, np.floating):
        if np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            return y.astype(np.int64)
        return (y > 0.5).astype(np.int64)
    return y.astype(np.int64, copy=False)


def accuracy(y_true, y_pred):
    """Fraction of samples whose predicted class equals the true class.

    Both sides may be integer labels, one-hot/probability rows (arg-max) or single probabilities
    (threshold 0.5), e.g. ``accuracy(y, net.predict_proba(x))`` or ``accuracy(y, net.predict(x))``.
    """
    t, p = to_labels(y_true), to_labels(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"accuracy: {t.shape[0]} true labels but {p.shape[0]} predictions")
    if t.size == 0:
        raise ValueError("accuracy: no samples")
    return float(np.mean(t == p))
