"""Argument checks shared by the Python API: a scalar is checked where it is given, and a bad one raises
TypeError (wrong type) or ValueError (out of range) naming it, before anything changes."""
import math

import numpy as np

__all__ = ["check_hyper", "check_int"]

# Larger rates or coefficients only turn weights into inf/NaN; refusing them names the mistake instead.
_MAX_HYPER = 1e6


def check_hyper(owner, name, value, minimum=None, maximum=_MAX_HYPER, above=False, below=False):
    """``value`` as a float, checked where it is set: a real number (TypeError otherwise, bools too),
    finite and within [minimum, maximum] (``above``/``below`` make a bound strict); ValueError names it."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}: {name} must be a real number, got {type(value).__name__}")
    try:
        v = float(value)
    except OverflowError:
        v = math.inf
    low_ok = minimum is None or (v > minimum if above else v >= minimum)
    high_ok = maximum is None or (v < maximum if below else v <= maximum)
    if not (math.isfinite(v) and low_ok and high_ok):
        low = "" if minimum is None else ("(" if above else "[") + f"{minimum:g}"
        high = "" if maximum is None else f"{maximum:g}" + (")" if below else "]")
        raise ValueError(f"{owner}: {name} must be finite and in {low or '(-inf'}, {high or 'inf)'}, got {value!r}")
    return v


def check_int(what, value, minimum, maximum):
    """``value`` as an int in [minimum, maximum]: a Python or NumPy integer, or a 0-d integer array (bools,
    floats and arrays of several values are TypeErrors), ValueError out of range; both name ``what``."""
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iu":
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an integer, got {type(value).__name__} {value!r}")
    if not minimum <= value <= maximum:
        raise ValueError(f"{what} must be in [{minimum}, {maximum}], got {value}")
    return int(value)
