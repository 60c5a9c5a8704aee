"""Build and run-time facts, and the thread setting."""
import numpy as np

from . import _core
from ._args import check_int


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
    _core.set_num_threads(check_int("set_num_threads: n", n, 1, 1024))


def get_num_threads():
    """The thread limit set by :func:`set_num_threads` (initially ``OMP_NUM_THREADS`` or the core count)."""
    return _core.get_num_threads()
