"""Which kernel module does the arithmetic: the C++ kernels (``"cpp"``, default) or their NumPy twins.

Layers, losses and optimizers never compute on their own; they call functions of a *backend*, a module
with the kernel names of :mod:`pydl.kernels`. :mod:`pydl.reference` has the same names, so switching is
only a matter of which module is asked.
"""
import types

from . import kernels, reference

_BY_NAME = {"cpp": kernels, "c++": kernels, "kernels": kernels, "numpy": reference, "reference": reference}
_default = "cpp"


# While pydl.profile() runs: a function wrapping a kernel module in a timing proxy (None otherwise).
kernel_wrapper = None


def resolve(backend=None):
    """The kernel module for ``backend``: None (the default set by :func:`set_backend`), a name
    (``"cpp"``, ``"numpy"``) or a module with the kernel functions. Called on every kernel use."""
    module = _resolve_module(backend)
    return module if kernel_wrapper is None else kernel_wrapper(module)


def _resolve_module(backend):
    if backend is None:
        backend = _default
    module = _BY_NAME.get(backend) if isinstance(backend, str) else None
    if module is not None:
        return module
    if isinstance(backend, types.ModuleType):
        return backend
    if isinstance(backend, str) and backend.lower() in _BY_NAME:
        return _BY_NAME[backend.lower()]
    raise ValueError(f"backend must be 'cpp', 'numpy' or a kernel module, got {backend!r}")


def name_of(backend):
    """``"cpp"`` or ``"numpy"`` for a backend, as saved with a network."""
    return "numpy" if _resolve_module(backend) is reference else "cpp"


def normalize(backend):
    """None, ``"cpp"``, ``"numpy"``, or a kernel module other than those two, as layers store it."""
    if backend is None:
        return None
    module = _resolve_module(backend)
    return module if module not in (kernels, reference) else name_of(module)


def set_backend(backend):
    """Make ``backend`` (``"cpp"`` or ``"numpy"``) the default of layers, losses and optimizers
    created without an explicit ``backend=`` (they look it up at each call, so existing objects follow)."""
    global _default
    _default = name_of(backend)


def get_backend():
    """The default backend's name, ``"cpp"`` or ``"numpy"``."""
    return _default
