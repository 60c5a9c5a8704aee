"""pydl: a small, fast deep-learning library for neural-network course work.

Hot kernels are C++ (``pydl.kernels``); every one has a pure-NumPy twin with the same signature in
``pydl.reference``, which is the test oracle and a backend you can select.
"""
try:
    from . import _core
except ImportError as err:  # the source checkout shadows the installed package
    import os as _os

    raise ImportError(
        f"pydl's compiled module _core is missing from {_os.path.dirname(__file__)}. This happens when Python "
        "imports pydl from its source folder (the current directory) instead of the installed package: run "
        "from another directory, or install in editable mode with `pip install -e .`.") from err
from . import kernels, reference
from ._info import build_info, get_num_threads, set_num_threads

__version__ = _core.build_info()["version"]

__all__ = ["build_info", "get_num_threads", "kernels", "reference", "set_num_threads", "__version__"]

# The user-facing API (issue #4): layers, networks, losses, optimizers, and their helpers.
from . import backend, backends, callbacks, cuda, experiments, init, losses, metrics, nn, optim
from .backends import get_backend, set_backend
from .gradcheck import gradcheck
from .profiler import profile
from .network import History, Network, Sequential
from .random import manual_seed
from .nn import register_layer
from .serialization import load

__all__ += ["History", "Network", "Sequential", "backends", "callbacks", "cuda", "experiments", "get_backend", "gradcheck",
            "init", "load",
            "losses", "manual_seed", "metrics", "nn", "optim", "profile", "register_layer", "set_backend"]
