"""Parameter and the Layer base class."""
import math

import numpy as np

from .. import backends as _backends
from .. import init as _init
from .. import random as _random

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_dtype(dtype):
    dt = np.dtype(dtype)
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


class Parameter:
    """A trainable array and its gradient, updated in place by optimizers.

    ``data`` keeps its identity until the layer changes dtype or device (optimizers and kernels write into
    it); ``grad`` is the gradient of the last backward pass, allocated on ``backend`` (None: the backend
    whose array ``data`` is). ``l2`` is the L2 coefficient λ the network applies to this array (weights
    only): the optimizer adds 2λ·data to the gradient.
    """

    __slots__ = ("name", "data", "grad", "l2", "regularizable")

    def __init__(self, name, data, regularizable, backend=None):
        owner = _backends.owner(data) if backend is None else _backends.get(backend)
        if owner is None:
            raise TypeError(f"Parameter {name!r}: data must be an array of a pydl backend, got {type(data).__name__}")
        self.name = name
        self.data = data
        self.grad = owner.zeros(data.shape, data.dtype)
        self.l2 = 0.0
        self.regularizable = regularizable

    @property
    def shape(self):
        return self.data.shape

    @property
    def size(self):
        return math.prod(self.data.shape)

    def __repr__(self):
        return f"Parameter({self.name!r}, shape={self.data.shape}, dtype={self.data.dtype})"


class Layer(_backends.OnBackend):
    """A step of a network: ``forward(x)`` then ``backward(dy)``, in the layer's dtype and backend.

    ``backend`` (None: pydl's default, see :func:`pydl.set_backend`) runs the kernels and holds the
    parameters, gradients and buffers; ``to(device)`` moves them.

    ``forward`` returns an array the layer reuses on its next call with the same shape (copy it to keep
    it) and, in training mode, keeps exactly what ``backward`` needs. ``backward(dy)`` stores the
    parameter gradients in ``grads`` and returns dL/dx (None when ``need_dx=False``, which the first
    layer of a network uses to skip that work).

    Shapes in ``output_shape``/``summary`` are per sample, without the batch dimension.
    """

    # What the layer's outputs are, for the model checks of Network.compile: "real" (unbounded),
    # "probability" (each in [0, 1]), "distribution" (rows summing to 1), "same" (as its input's) or
    # "unknown" (a user's layer: never refused).
    output_kind = "unknown"
    # True for a layer that draws random numbers in training (Dropout): the network then gives it a seed
    # before each training forward (``_seed``), the same in the plan and step by step.
    uses_seed = False

    def __init__(self, dtype="float32", backend=None):
        self.dtype = as_float_dtype(dtype)
        self._device = None if backend is None else _backends.get(backend)
        self.training = True
        self._parameters = {}
        self._persistent = {}  # name -> array the kernels update and save/load keep, not trained (running stats)
        self._buffers = {}
        self._seed = None

    # ---- device ----------------------------------------------------------------------------------
    def _backend_changing(self, new):
        # Setting backend never moves arrays; to() does.
        if self._parameters and not new.same_memory(self._dev):
            raise ValueError(f"{type(self).__name__}: its arrays are on {self.device!r}; move them with "
                             f".to({new.name!r}) instead of setting backend")

    def to(self, device):
        """Compute on ``device`` (a name or a Backend), moving parameters and gradients there (a copy only
        when its memory differs); returns the layer."""
        dst, src = _backends.get(device), self._dev
        for p in self._parameters.values():
            p.data, p.grad = _backends.move(p.data, src, dst), _backends.move(p.grad, src, dst)
        self._persistent = {k: _backends.move(v, src, dst) for k, v in self._persistent.items()}
        if not src.same_memory(dst):
            self._buffers.clear()
        self._device = dst
        return self

    # ---- parameters ------------------------------------------------------------------------------
    def _add_parameter(self, name, shape, regularizable):
        dev = self._dev
        self._parameters[name] = Parameter(name, dev.zeros(shape, self.dtype), regularizable, dev)

    def _add_persistent(self, name, shape, value):
        """A persistent buffer of the layer's dtype on its backend, filled with ``value``."""
        a = self._dev.empty(shape, self.dtype)
        self._dev.fill_(a, value)
        self._persistent[name] = a

    @property
    def buffers(self):
        """name -> persistent buffer (state the layer updates and saves but never trains, e.g. BatchNorm's
        running statistics): the live arrays."""
        return dict(self._persistent)

    def _fill(self, name, init, fan_in, fan_out, rng):
        p = self._parameters[name]
        values = np.asarray(init(p.shape, fan_in, fan_out, rng))
        if values.shape != p.shape:
            raise ValueError(f"{type(self).__name__}: initializer returned shape {values.shape}, expected {p.shape}")
        self._dev.copy_(p.data, values)

    def reset_parameters(self, rng=None):
        """Draw fresh parameter values from ``rng`` (a Generator or a seed); no-op without parameters."""

    @property
    def params(self):
        """name -> parameter array (the live arrays: assigning into them changes the layer)."""
        return {name: p.data for name, p in self._parameters.items()}

    @property
    def grads(self):
        """name -> gradient of the last backward pass."""
        return {name: p.grad for name, p in self._parameters.items()}

    def parameters(self):
        return list(self._parameters.values())

    def num_params(self):
        return sum(p.size for p in self._parameters.values())

    def set_dtype(self, dtype):
        """Cast parameters (and future computation) to float32 or float64."""
        dt = as_float_dtype(dtype)
        if dt != self.dtype:
            dev = self._dev
            for p in self._parameters.values():
                p.data = dev.from_numpy(dev.to_numpy(p.data, copy=False).astype(dt))
                p.grad = dev.zeros(p.data.shape, dt)
            self._persistent = {k: dev.from_numpy(dev.to_numpy(v, copy=False).astype(dt))
                                for k, v in self._persistent.items()}
            self.dtype = dt
            self._buffers.clear()
        return self

    # ---- modes -----------------------------------------------------------------------------------
    def train(self, mode=True):
        self.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    # ---- computation -----------------------------------------------------------------------------
    @property
    def kernels(self):
        return _backends.resolve(self._device)

    def _buffer(self, key, shape, dtype=None):
        """A reusable output array (the layer's dtype unless given): one per (key, shape), so alternating
        batch sizes don't reallocate."""
        buf = self._buffers.get((key, shape, dtype))
        if buf is None:
            if len(self._buffers) > 16:
                self._buffers.clear()
            buf = self._dev.empty(shape, self.dtype if dtype is None else dtype)
            self._buffers[(key, shape, dtype)] = buf
        return buf

    def forward(self, x):
        raise NotImplementedError

    def backward(self, dy, need_dx=True):
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    def plan_step(self):
        """This layer's step in the training plan (:mod:`pydl.plan`): ``(kind, numbers)`` naming a C++
        step that calls the kernels forward/backward call, in the same order, with this layer's
        parameters; ``"identity"`` for a layer that only reshapes; None (a user's layer) trains through
        forward/backward instead."""
        return None

    def output_shape(self, input_shape):
        """Per-sample output shape for a per-sample input shape; ValueError when the input doesn't fit."""
        return tuple(input_shape)

    def kernel_shape(self):
        """What ``summary`` prints in the kernel column (None: nothing)."""
        return None

    def _missing_cache(self):
        return RuntimeError(f"{type(self).__name__}.backward: call forward in training mode first")

    # ---- description -----------------------------------------------------------------------------
    def get_config(self):
        """Constructor arguments, JSON-serializable (used by save/load and repr)."""
        return {}

    def _repr_args(self):
        return ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())

    def __repr__(self):
        return f"{type(self).__name__}({self._repr_args()})"


def make_init(init):
    return _init.get(init)


def rng_of(seed):
    """A Generator for a layer's ``seed``; None draws from pydl's global generator (see manual_seed)."""
    return _random.spawn(seed)
