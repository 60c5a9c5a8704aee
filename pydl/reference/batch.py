"""Batch kernels of the training loop: gathering a shuffled batch, counting correct predictions."""
import numpy as np

from ._checks import (as_ndarray, float_arg, float_input, int64_output, int_input, is_int_array, no_overlap,
                      output)

__all__ = ["gather_rows", "count_correct"]


def gather_rows(x, index, out=None):
    """Rows of x picked by index: out[i] = x[index[i]], as np.take(x, index, axis=0)."""
    fn = "gather_rows"
    ints = is_int_array(x)
    x = as_ndarray(fn, "x", x, "a numpy.ndarray") if ints else float_input(fn, "x", x)
    if x.ndim < 1:
        raise ValueError(f"{fn}: x must have at least 1 dimension, got shape {x.shape}")
    if ints:
        x = int_input(fn, "x", x, x.shape)
    if not is_int_array(index):
        raise TypeError(f"{fn}: index must be a numpy.ndarray of integers")
    index_any = as_ndarray(fn, "index", index, "a numpy.ndarray of integers")
    if index_any.ndim != 1:
        raise ValueError(f"{fn}: index must be 1-D, got shape {index_any.shape}")
    index = int_input(fn, "index", index, index_any.shape)
    n = x.shape[0]
    bad = np.flatnonzero((index < 0) | (index >= n))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{fn}: index holds {index[i]} at position {i}, outside [0, {n}) for x of shape {x.shape}")
    shape = (index.shape[0],) + x.shape[1:]
    out = int64_output(fn, "out", out, shape) if ints else output(fn, "out", out, shape, x)
    no_overlap(fn, "out", out, "x", x)
    no_overlap(fn, "out", out, "index", index)
    np.take(x, index, axis=0, out=out)
    return out


def count_correct(output, labels, threshold=0.5):
    """How many rows of output predict their label: arg-max of each row for (N, C) with C > 1, else
    output > threshold as class 1 for (N,) or (N, 1)."""
    fn = "count_correct"
    threshold = float_arg(fn, "threshold", threshold)
    output = float_input(fn, "output", output)
    if output.ndim not in (1, 2):
        raise ValueError(f"{fn}: output must be (N,) or (N, C), got shape {output.shape}")
    n = output.shape[0]
    cols = output.shape[1] if output.ndim == 2 else 1
    if cols < 1:
        raise ValueError(f"{fn}: output must have at least one column, got shape {output.shape}")
    labels = int_input(fn, "labels", labels, (n,))
    if cols == 1:
        predicted = output.reshape(-1) > output.dtype.type(threshold)
    else:
        predicted = np.argmax(output, axis=1)
    return int(np.count_nonzero(predicted == labels))
