"""The global random generator behind layers and networks created without a seed.

``pydl.manual_seed(n)`` (PyTorch's name) re-seeds it, so a script that calls it first builds the same
weights and shuffles the same way on every run. Explicit ``seed=`` arguments never touch it.
"""
import numpy as np

__all__ = ["manual_seed", "default_generator", "spawn"]

_generator = np.random.default_rng()


def check_seed(fn, seed):
    """``seed`` as a non-negative int (ValueError naming ``fn`` otherwise); None and Generators pass."""
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{fn}: seed must be a non-negative integer, None or a numpy Generator, got "
                        f"{type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"{fn}: seed must be a non-negative integer, got {seed}")
    return int(seed)


def manual_seed(seed):
    """Re-seed the generator that layers and networks created afterwards draw from; returns it."""
    global _generator
    if seed is None or isinstance(seed, np.random.Generator):
        raise ValueError(f"manual_seed: seed must be a non-negative integer, got {seed!r}")
    _generator = np.random.default_rng(check_seed("manual_seed", seed))
    return _generator


def default_generator():
    """The global generator (fresh entropy until :func:`manual_seed` is called)."""
    return _generator


def spawn(seed=None):
    """A Generator for ``seed``: the given Generator, a new one from an integer seed, or for None an
    independent child of the global generator (so manual_seed makes it reproducible)."""
    seed = check_seed("seed", seed)
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng(_generator.integers(2**63))
    return np.random.default_rng(seed)
