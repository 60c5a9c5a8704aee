"""Build and run-time facts, and the thread setting."""
import numpy as np

from . import _core


def build_info():
    """What this build of pydl is and uses, as a dict.

    Keys: ``version``, ``compiler``, ``simd`` (the SIMD level kernels use now), ``cpu_simd`` (the best
    the CPU offers), ``openmp``, ``threads``, ``gemm`` (which GEMM path serves matrix products),
    ``cuda`` (what the build found), ``numpy``.
    """
    info = dict(_core.build_info())
    info["numpy"] = np.__version__
    return info


def set_num_threads(n):
    """Use at most ``n`` threads in pydl's kernels (like ``torch.set_num_threads``).

    Kernels still run single-threaded on work too small to pay for a second thread.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"set_num_threads: n must be an integer, got {type(n).__name__}")
    if not 1 <= n <= 1024:
        raise ValueError(f"set_num_threads: n must be in [1, 1024], got {n}")
    _core.set_num_threads(int(n))


def get_num_threads():
    """The thread limit set by :func:`set_num_threads` (initially ``OMP_NUM_THREADS`` or the core count)."""
    return _core.get_num_threads()
