"""The CUDA backends: "cuda" (pydl._cuda, built by nvcc, on a GPU) and "cuda-sim" (pydl._cuda_sim: the same
.cu kernels compiled against pydl's CPU simulator of the CUDA execution model).

Their arrays are the module's ``DeviceArray``: device memory that NumPy cannot read, reached only through
the backend. A backend whose module is missing, or whose device cannot run (no GPU, no driver), stays
registered and says why when asked for (:meth:`CudaBackend.why_unavailable`).
"""
import importlib

import numpy as np

from .base import Backend

__all__ = ["CudaBackend"]


class CudaBackend(Backend):
    """The kernels and DeviceArrays of one CUDA module (``pydl._cuda`` or ``pydl._cuda_sim``)."""

    host = False

    def __init__(self, name, module_name, missing_hint):
        self.name = name
        self._module_name = module_name
        self._missing_hint = missing_hint
        self._module = None
        self._why = None  # None: not looked yet; "": available

    def _probe(self):
        if self._why is None:
            try:
                module = importlib.import_module(self._module_name)
            except ImportError as err:
                self._why = f"{self._module_name} is not built ({self._missing_hint}): {err}"
            else:
                ok, reason = module.availability()
                self._module, self._why = (module, "") if ok else (None, reason)
        return self._module

    def available(self):
        return self._probe() is not None

    def why_unavailable(self):
        """Empty when the device can run kernels, else the reason it cannot."""
        self._probe()
        return self._why

    @property
    def module(self):
        module = self._probe()
        if module is None:
            raise RuntimeError(f"device {self.name!r} is not available: {self._why}")
        return module

    @property
    def kernels(self):
        return self.module

    @property
    def plan_type(self):
        return getattr(self.module, "_TrainingPlan", None)

    @property
    def array_type(self):
        return self.module.DeviceArray

    def owns(self, a):
        module = self._probe()
        return module is not None and isinstance(a, module.DeviceArray)

    def same_memory(self, other):
        return other is self

    # ---- allocation and transfer ---------------------------------------------------------------
    def empty(self, shape, dtype):
        return self.module.empty(shape, np.dtype(dtype))

    def zeros(self, shape, dtype):
        return self.module.zeros(shape, np.dtype(dtype))

    def from_numpy(self, a):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{self.name} from_numpy: expected a NumPy array, got {type(a).__name__}")
        if a.dtype.kind in "iub":
            a = a.astype(np.int64, copy=False)  # labels and indices: the kernels read int64
        return self.module.from_numpy(a)

    def to_numpy(self, a, copy=True):
        if not self.owns(a):
            raise TypeError(f"{self.name} to_numpy: expected a {self.name} DeviceArray, got {type(a).__name__}")
        return a.to_numpy()

    def copy(self, a):
        return self.module.copy(a)

    def copy_(self, dst, src):
        return self.module.copy_(dst, src)

    def fill_(self, a, value):
        return self.module.fill_(a, value)

    def reshape(self, a, shape):
        return self.module.reshape(a, shape)

    def rows(self, a, start, stop):
        return self.module.rows(a, start, stop)

    def clip_(self, a, low, high):
        return self.module.clip_(a, low, high)

    def all_finite(self, a):
        return self.module.all_finite(a)

    def synchronize(self):
        """Wait for every queued kernel (raises the error of a failed one)."""
        self.module.synchronize()
