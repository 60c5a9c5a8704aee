"""Activation layers. Each keeps its output, which is all its backward needs."""
from .._args import check_hyper
from .base import Layer


class _Activation(Layer):
    _kernel = None  # name of the forward kernel; the backward is "<name>_backward"

    def __init__(self, dtype="float32", backend=None):
        super().__init__(dtype, backend)
        self._y = None

    def _kernel_args(self, backward):
        """Keyword arguments of the forward (backward: False) or backward kernel beyond the arrays."""
        return {}

    def forward(self, x):
        y = getattr(self.kernels, self._kernel)(x, out=self._buffer("y", x.shape), **self._kernel_args(False))
        if self.training:
            self._y = y
        return y

    def backward(self, dy, need_dx=True):
        if self._y is None:
            raise self._missing_cache()
        if not need_dx:
            return None
        return getattr(self.kernels, self._kernel + "_backward")(self._y, dy, out=self._buffer("dx", dy.shape),
                                                                 **self._kernel_args(True))

    def plan_step(self):
        return "activation", {"activation": ("none", "relu", "sigmoid", "tanh").index(self._kernel)}


class Sigmoid(_Activation):
    """σ(x) = 1 / (1 + e^-x). ``clip=eps`` clips the output to [eps, 1-eps] as report 004 does, which keeps
    a following BCE finite; backward then uses the clipped output, y(1-y)·dy, like that report."""

    _kernel = "sigmoid"
    output_kind = "probability"

    def __init__(self, clip=None, dtype="float32", backend=None):
        super().__init__(dtype, backend)
        self.clip = None if clip is None else check_hyper("Sigmoid", "clip", clip, 0.0, 0.5, above=True, below=True)

    def _kernel_args(self, backward):
        return {} if backward else {"clip": self.clip}

    def plan_step(self):
        return "activation", {"activation": 2, "clip": 0.0 if self.clip is None else self.clip}

    def get_config(self):
        return {} if self.clip is None else {"clip": self.clip}


class ReLU(_Activation):
    _kernel = "relu"
    output_kind = "real"


class LeakyReLU(_Activation):
    """x where x > 0, else negative_slope·x (PyTorch's LeakyReLU; negative_slope >= 0)."""

    _kernel = "leaky_relu"
    output_kind = "real"

    def __init__(self, negative_slope=0.01, dtype="float32", backend=None):
        super().__init__(dtype, backend)
        self.negative_slope = check_hyper("LeakyReLU", "negative_slope", negative_slope, 0.0)

    def _kernel_args(self, backward):
        return {"negative_slope": self.negative_slope}

    def plan_step(self):
        return "leaky_relu", {"negative_slope": self.negative_slope}

    def get_config(self):
        return {"negative_slope": self.negative_slope}


class Tanh(_Activation):
    _kernel = "tanh"
    output_kind = "real"


class Softmax(_Activation):
    """Row-wise softmax over (N, C). For training prefer CrossEntropyLoss on logits (stabler, cheaper)."""

    _kernel = "softmax"
    output_kind = "distribution"

    def plan_step(self):
        return "softmax", {}

    def output_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(f"Softmax: expected input of shape (N, C), got (N, {', '.join(map(str, input_shape))})")
        return tuple(input_shape)
