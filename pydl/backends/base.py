"""The Backend interface: what runs (kernel functions) and where arrays live (allocation).

A backend's arrays are whatever its kernels read and write: NumPy arrays for the CPU kernels and their
NumPy twins, device arrays for a GPU. Layers, losses, optimizers and the network allocate through their
backend and never touch an array's memory themselves, so a backend whose arrays are not NumPy arrays
plugs in without changing them.
"""

__all__ = ["Backend"]


class Backend:
    """Kernels plus allocation. Subclasses set ``name``, ``kernels``, ``array_type`` and ``host`` and implement
    the methods below; the kernel functions are reachable as attributes (``backend.dense_forward(...)``).

    - ``kernels``: an object whose attributes are the kernel functions, with the names and signatures of
      :mod:`pydl.kernels` (the profiler wraps this object, so kernels are always called through it).
    - ``array_type``: the type of the backend's arrays. Backends with one array type share memory: moving
      between them moves nothing.
    - ``host``: True when the arrays are NumPy arrays, so NumPy data needs no conversion at the API boundary.

    Arrays expose ``shape``, ``dtype`` and ``ndim``; everything else goes through the backend.
    """

    name = None
    kernels = None
    array_type = None
    host = False
    # The _TrainingPlan class that runs whole epochs on this backend (pydl/plan.py), or None: fit then
    # trains step by step through the layers.
    plan_type = None

    def __getattr__(self, name):
        # Reached only for names the backend itself lacks: the kernel functions.
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return getattr(self.kernels, name)
        except AttributeError:
            raise AttributeError(f"backend {self.name!r} has no kernel or method {name!r}") from None

    def available(self):
        """True when this backend can compute here (a GPU backend without a GPU cannot)."""
        return True

    def why_unavailable(self):
        """Empty when available, else why not."""
        return ""

    def same_memory(self, other):
        """True when arrays of ``other`` are arrays of this backend (moving between them copies nothing)."""
        return self.array_type is other.array_type

    def owns(self, a):
        """True when ``a`` is an array of this backend."""
        return isinstance(a, self.array_type)

    # ---- allocation and transfer ---------------------------------------------------------------
    def empty(self, shape, dtype):
        """An uninitialised C-contiguous array."""
        raise NotImplementedError

    def zeros(self, shape, dtype):
        raise NotImplementedError

    def from_numpy(self, a):
        """A C-contiguous copy of the NumPy array ``a`` on this backend (same dtype)."""
        raise NotImplementedError

    def to_numpy(self, a, copy=True):
        """``a``'s values as a NumPy array: a fresh copy, or with ``copy=False`` possibly ``a`` itself on host
        backends (read it, never keep or write it)."""
        raise NotImplementedError

    # ---- the few array operations the library needs outside kernels ----------------------------
    def copy(self, a):
        """A new array with ``a``'s values."""
        raise NotImplementedError

    def copy_(self, dst, src):
        """Write ``src`` (an array of this backend or a NumPy array of dst's shape) into ``dst``, casting
        to dst's dtype; returns dst."""
        raise NotImplementedError

    def fill_(self, a, value):
        """Set every element of ``a`` to ``value``; returns a."""
        raise NotImplementedError

    def reshape(self, a, shape):
        """A view of contiguous ``a`` with another shape (one entry may be -1)."""
        raise NotImplementedError

    def rows(self, a, start, stop):
        """A view of rows ``start:stop`` of ``a`` (along the first axis)."""
        raise NotImplementedError

    def clip_(self, a, low, high):
        """Clip ``a`` to [low, high] in place; returns a. (Sigmoid's ``clip`` until the sigmoid kernel clips.)"""
        raise NotImplementedError

    def all_finite(self, a):
        """True when no element of ``a`` is NaN or infinite."""
        raise NotImplementedError

    def __repr__(self):
        return f"<pydl backend {self.name!r}>"
