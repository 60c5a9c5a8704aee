"""Weight initializers.

An initializer is a callable ``init(shape, fan_in, fan_out, rng) -> ndarray`` (float64; layers cast it
to their dtype). Layers take one as ``init=``, by name (``"xavier_uniform"``, ``"he_normal"``, ...) or as
an object (``init.normal(std=0.01)``). All randomness comes from the ``rng`` a layer passes in
(``np.random.default_rng(seed)``), so one seed gives one set of weights, bit for bit.

fan_in/fan_out: Dense ``(in, out)``; Conv2D ``in_ch*kH*kW`` and ``out_ch*kH*kW``.
"""
import math

import numpy as np

__all__ = ["Initializer", "zeros", "ones", "constant", "normal", "uniform", "xavier_normal", "xavier_uniform",
           "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "get"]


class Initializer:
    """Base class: a named, parameterized initializer whose ``repr`` is its constructor call."""

    def __call__(self, shape, fan_in, fan_out, rng):
        raise NotImplementedError

    def get_config(self):
        return dict(vars(self))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class constant(Initializer):
    def __init__(self, value=0.0):
        self.value = float(value)

    def __call__(self, shape, fan_in, fan_out, rng):
        return np.full(shape, self.value)


class zeros(constant):
    def __init__(self):
        super().__init__(0.0)

    def get_config(self):
        return {}


class ones(constant):
    def __init__(self):
        super().__init__(1.0)

    def get_config(self):
        return {}


class normal(Initializer):
    """N(mean, std²); cs231n's ``std * randn`` with std=0.01 by default."""

    def __init__(self, std=0.01, mean=0.0):
        self.std = float(std)
        self.mean = float(mean)

    def __call__(self, shape, fan_in, fan_out, rng):
        return rng.normal(self.mean, self.std, size=shape)


class uniform(Initializer):
    def __init__(self, low=-0.05, high=0.05):
        self.low = float(low)
        self.high = float(high)

    def __call__(self, shape, fan_in, fan_out, rng):
        return rng.uniform(self.low, self.high, size=shape)


class xavier_normal(Initializer):
    """Glorot & Bengio: std = gain * sqrt(2 / (fan_in + fan_out))."""

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def __call__(self, shape, fan_in, fan_out, rng):
        return rng.normal(0.0, self.gain * math.sqrt(2.0 / (fan_in + fan_out)), size=shape)


class xavier_uniform(Initializer):
    """Glorot & Bengio: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def __call__(self, shape, fan_in, fan_out, rng):
        a = self.gain * math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-a, a, size=shape)


class he_normal(Initializer):
    """He et al. for ReLU: std = sqrt(2 / fan_in)."""

    def __init__(self):
        pass

    def __call__(self, shape, fan_in, fan_out, rng):
        return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape)


class he_uniform(Initializer):
    """He et al. for ReLU: U(-a, a), a = sqrt(6 / fan_in)."""

    def __init__(self):
        pass

    def __call__(self, shape, fan_in, fan_out, rng):
        a = math.sqrt(6.0 / fan_in)
        return rng.uniform(-a, a, size=shape)


glorot_normal = xavier_normal
glorot_uniform = xavier_uniform

_BY_NAME = {
    "zeros": zeros, "ones": ones, "constant": constant, "normal": normal, "uniform": uniform,
    "xavier_normal": xavier_normal, "xavier_uniform": xavier_uniform, "xavier": xavier_normal,
    "glorot_normal": xavier_normal, "glorot_uniform": xavier_uniform, "glorot": xavier_uniform,
    "he_normal": he_normal, "he_uniform": he_uniform, "he": he_normal,
}


def get(init):
    """An initializer from a name, a class, or a callable (returned as is)."""
    if isinstance(init, str):
        try:
            return _BY_NAME[init.lower()]()
        except KeyError:
            raise ValueError(f"unknown initializer {init!r}; known: {', '.join(sorted(_BY_NAME))}") from None
    if isinstance(init, type) and issubclass(init, Initializer):
        return init()
    if callable(init):
        return init
    raise TypeError(f"init must be a name, an Initializer or a callable, got {type(init).__name__}")
