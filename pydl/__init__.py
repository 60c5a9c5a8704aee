"""pydl: a small, fast deep-learning library for neural-network course work.

Hot kernels are C++ (``pydl.kernels``); every one has a pure-NumPy twin with the same signature in
``pydl.reference``, which is the test oracle and a backend you can select.
"""
from . import _core, kernels, reference
from ._info import build_info, get_num_threads, set_num_threads

__version__ = _core.build_info()["version"]

__all__ = ["build_info", "get_num_threads", "kernels", "reference", "set_num_threads", "__version__"]
