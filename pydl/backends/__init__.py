"""Backends: which kernels run and where arrays live.

A :class:`Backend` provides the kernel functions *and* allocation (``empty``, ``zeros``, ``from_numpy``,
``to_numpy``, a few array helpers). Two come with pydl:

- ``"cpu"``: the C++ kernels of :mod:`pydl.kernels` (aliases ``"cpp"``, ``"c++"``, ``"kernels"``), the default;
- ``"numpy"``: their NumPy twins in :mod:`pydl.reference` (alias ``"reference"``);
- ``"cuda"``: the CUDA kernels on a GPU (alias ``"gpu"``), when pydl was built with nvcc and a GPU is there;
- ``"cuda-sim"``: the same CUDA kernels on pydl's CPU simulator of the CUDA execution model (alias
  ``"cuda_sim"``), slow but exact: it runs the GPU code paths on any machine.

Both keep NumPy arrays, so switching between them copies nothing. Other backends (a GPU, the test suite's
wrapped backend) are :class:`Backend` objects, passed directly or :func:`register`-ed under a name.

A layer, loss or optimizer built without ``backend=`` follows the default of :func:`set_backend`, looked
up at each call; the default should stay on the memory such objects were built on (set_backend among
"cpu" and "numpy" is always safe; ``net.to(device)`` moves a network's arrays).
"""
import types

from .. import _core
from .. import kernels as _kernels
from .. import reference as _reference
from .base import Backend
from .cuda import CudaBackend
from .host import HostBackend

__all__ = ["Backend", "CudaBackend", "HostBackend", "CPU", "NUMPY", "CUDA", "CUDA_SIM", "OnBackend", "get", "register", "names", "owner", "move",
           "resolve", "set_backend", "get_backend"]

CPU = HostBackend("cpu", _kernels, _core._TrainingPlan)
NUMPY = HostBackend("numpy", _reference)
CUDA = CudaBackend("cuda", "pydl._cuda", "nvcc was not found when pydl was built, or PYDL_CUDA=OFF")
CUDA_SIM = CudaBackend("cuda-sim", "pydl._cuda_sim", "pydl was built with PYDL_CUDA_SIM=OFF")

_BY_NAME = {}     # lower-case name or alias -> Backend
_ALIASES = {}     # Backend -> its aliases, for messages
_KNOWN = [CPU]    # every backend seen, to tell whose array an input is (first host backend first)
_BY_MODULE = {_kernels: CPU, _reference: NUMPY}

_default = CPU

# While pydl.profile() runs: a function wrapping a backend's kernels in a timing proxy (None otherwise).
kernel_wrapper = None


def register(backend, *aliases):
    """Make ``backend`` (a Backend) reachable by its name and ``aliases`` (``Network(device="name")``, saved
    files). Registering the same object again is allowed; a name taken by another backend raises."""
    if not isinstance(backend, Backend):
        raise TypeError(f"register: expected a pydl.backends.Backend, got {type(backend).__name__}")
    keys = [str(n).lower() for n in (backend.name, *aliases)]
    for key in keys:
        if _BY_NAME.get(key, backend) is not backend:
            raise ValueError(f"register: the name {key!r} already belongs to {_BY_NAME[key]!r}")
    for key in keys:
        _BY_NAME[key] = backend
    known = _ALIASES.setdefault(backend, [])
    known.extend(k for k in keys[1:] if k not in known)
    _remember(backend)
    return backend


def _remember(backend):
    if backend not in _KNOWN:
        _KNOWN.append(backend)


register(CPU, "cpp", "c++", "kernels")
register(NUMPY, "reference")
register(CUDA, "gpu")
register(CUDA_SIM, "cuda_sim")


def names():
    """The registered backends' names (without aliases)."""
    return sorted({b.name for b in _BY_NAME.values()})


def _known_text():
    parts = []
    for name in names():
        aliases = _ALIASES.get(_BY_NAME[name], [])
        word = "alias" if len(aliases) == 1 else "aliases"
        parts.append(repr(name) + (f" ({word} {', '.join(map(repr, aliases))})" if aliases else ""))
    return ", ".join(parts)


def get(backend=None):
    """The Backend for ``backend``: None (the default), a name or alias, a Backend, or a module of kernel
    functions (a host backend computing with it)."""
    if backend is None:
        backend = _default
    if isinstance(backend, Backend):
        _remember(backend)
        return _usable(backend)
    if isinstance(backend, str):
        found = _BY_NAME.get(backend.lower())
        if found is None:
            raise ValueError(f"unknown backend {backend!r}; known: {_known_text()} (or pass a pydl.backends.Backend)")
        return _usable(found)
    if isinstance(backend, types.ModuleType):
        if backend not in _BY_MODULE:
            _BY_MODULE[backend] = HostBackend(backend.__name__, backend)
        return _BY_MODULE[backend]
    raise TypeError(f"backend must be a name, a pydl.backends.Backend or a kernel module, got {type(backend).__name__}")


def _usable(backend):
    if not backend.available():
        raise RuntimeError(f"device {backend.name!r} is not available here: {backend.why_unavailable()}")
    return backend


def owner(a):
    """The backend whose array ``a`` is (for host arrays: the first host backend seen), or None."""
    for backend in _KNOWN:
        if backend.owns(a):
            return backend
    return None


def move(a, src, dst):
    """Array ``a`` of backend ``src`` as an array of ``dst``: ``a`` itself when they share memory, else a copy."""
    if src.same_memory(dst):
        return a
    if dst.host:
        return src.to_numpy(a)
    return dst.from_numpy(src.to_numpy(a, copy=False))


def resolve(backend=None):
    """The kernel functions of ``backend`` (None: the default), through the profiler's timing proxy while
    ``pydl.profile()`` runs. Called on every kernel use."""
    b = _default if backend is None else backend
    if not isinstance(b, Backend):
        b = get(b)
    kernels = b.kernels
    return kernels if kernel_wrapper is None else kernel_wrapper(kernels)


def set_backend(backend):
    """Make ``backend`` (a name or a Backend) the default of layers, losses, optimizers and networks created
    without ``backend=``/``device=`` (they look it up at each call, so existing objects follow)."""
    global _default
    _default = get(backend)


def get_backend():
    """The default backend's name: ``"cpu"`` unless :func:`set_backend` changed it."""
    return get(_default).name


class OnBackend:
    """Mixin of layers, losses and optimizers: ``backend`` (the Backend given, None: the default, looked up
    at each call), ``_dev`` (the Backend computing now) and ``device`` (its name)."""

    _device = None

    @property
    def backend(self):
        return self._device

    @backend.setter
    def backend(self, value):
        new = None if value is None else get(value)
        self._backend_changing(get(new))
        self._device = new

    def _backend_changing(self, new):
        """Called with the new Backend before ``backend`` is set: raise to refuse it, or drop buffers."""

    @property
    def _dev(self):
        return self._device if self._device is not None else get()

    @property
    def device(self):
        return self._dev.name


# ---- kept for code written against pydl.backend --------------------------------------------------
def name_of(backend):
    """The name of a backend (``"cpu"``, ``"numpy"``, ...)."""
    return get(backend).name


def normalize(backend):
    """None, or the Backend for ``backend``."""
    return None if backend is None else get(backend)
