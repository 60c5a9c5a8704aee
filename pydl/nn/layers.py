"""Layers with parameters (Dense, Conv2D) and the shape-only ones (pooling, Flatten)."""
import numpy as np

from .._args import check_int
from .base import Layer, make_init, rng_of

_FUSED = ("none", "relu", "sigmoid", "tanh")  # the activations dense_forward fuses
_CONV_FUSED = _FUSED[:2]  # and conv2d_forward
_DEFAULT_INIT = "xavier_uniform"


# Sizes beyond these are mistakes, not networks: refusing them early keeps every later size computation
# (output shapes, buffers, kernel geometry) far from overflow.
MAX_FEATURES = 1 << 24
MAX_PARAMETERS = 1 << 31
MAX_GEOMETRY = 1 << 16


def _pair(v, what, minimum=1):
    """An int or a pair of ints, each in [minimum, MAX_GEOMETRY], as a pair."""
    if isinstance(v, (list, tuple)):
        if len(v) != 2:
            raise ValueError(f"{what} must be an int or a pair of ints, got {v!r}")
        return tuple(check_int(what, e, minimum, MAX_GEOMETRY) for e in v)
    e = check_int(what, v, minimum, MAX_GEOMETRY)
    return (e, e)


def _check_parameter_count(what, count):
    if count > MAX_PARAMETERS:
        raise ValueError(f"{what} would have {count} parameters; pydl layers hold at most {MAX_PARAMETERS}")


def _conv_out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def _as_kernel_arg(pair):
    """Kernels take an int for a square size/stride/padding, a pair otherwise."""
    return pair[0] if pair[0] == pair[1] else pair


def _geometry_numbers(kernel, stride, padding):
    return {"kernel_h": kernel[0], "kernel_w": kernel[1], "stride_h": stride[0], "stride_w": stride[1],
            "pad_h": padding[0], "pad_w": padding[1]}


def _spatial_output(layer, input_shape, channels, kernel, stride, padding):
    name = repr(layer)
    if len(input_shape) != 3:
        raise ValueError(f"{name}: expected input of shape (N, C, H, W), got (N, {', '.join(map(str, input_shape))})")
    c, h, w = input_shape
    if channels is not None and c != channels:
        raise ValueError(f"{name}: expected {channels} input channels, got input (N, {c}, {h}, {w})")
    oh, ow = _conv_out(h, kernel[0], stride[0], padding[0]), _conv_out(w, kernel[1], stride[1], padding[1])
    if oh < 1 or ow < 1:
        raise ValueError(f"{name}: kernel {kernel} does not fit input {h}x{w} with padding {padding}")
    return oh, ow


class Dense(Layer):
    """Fully connected: ``y = act(x @ W + b)``, W stored ``(in_features, out_features)``.

    ``activation`` ("relu", "sigmoid", "tanh") fuses the activation into the same kernel call; a separate
    activation layer gives the same result. ``init`` draws W (fan_in=in, fan_out=out); biases start at 0.
    """

    def __init__(self, in_features, out_features, bias=True, activation=None, init=_DEFAULT_INIT,
                 seed=None, dtype="float32", backend=None):
        super().__init__(dtype, backend)
        self.in_features = check_int("Dense: in_features", in_features, 1, MAX_FEATURES)
        self.out_features = check_int("Dense: out_features", out_features, 1, MAX_FEATURES)
        _check_parameter_count(f"Dense({self.in_features}, {self.out_features})", self.in_features * self.out_features)
        self.bias = bool(bias)
        self.activation = "none" if activation is None else str(activation).lower()
        if self.activation not in _FUSED:
            raise ValueError(f"Dense: activation must be one of {_FUSED} or None, got {activation!r}")
        self._init_arg = init
        self.init = make_init(init)
        self._add_parameter("W", (self.in_features, self.out_features), regularizable=True)
        if self.bias:
            self._add_parameter("b", (self.out_features,), regularizable=False)
        self.reset_parameters(seed)
        self._x = self._y = None

    @property
    def output_kind(self):
        return "probability" if self.activation == "sigmoid" else "real"

    def reset_parameters(self, rng=None):
        self._fill("W", self.init, self.in_features, self.out_features, rng_of(rng))
        if self.bias:
            self._dev.fill_(self._parameters["b"].data, 0)

    def forward(self, x):
        p = self._parameters
        y = self._buffer("y", (x.shape[0], self.out_features))
        self.kernels.dense_forward(x, p["W"].data, p["b"].data if self.bias else None,
                                   activation=self.activation, out=y)
        if self.training:
            self._x, self._y = x, y
        return y

    def backward(self, dy, need_dx=True):
        if self._x is None:
            raise self._missing_cache()
        k, p, x = self.kernels, self._parameters, self._x
        if self.activation != "none":
            dy = getattr(k, self.activation + "_backward")(self._y, dy, out=self._buffer("dz", dy.shape))
        dx = self._buffer("dx", x.shape) if need_dx else None
        dx, _, _ = k.dense_backward(x, p["W"].data, dy, dx=dx, dw=p["W"].grad, db=p["b"].grad if self.bias else None,
                                    need_dx=need_dx, has_bias=self.bias)
        return dx

    def plan_step(self):
        return "dense", {"activation": _FUSED.index(self.activation)}

    def output_shape(self, input_shape):
        if tuple(input_shape) != (self.in_features,):
            got = ", ".join(map(str, input_shape))
            raise ValueError(f"{self!r}: expected input of shape (N, {self.in_features}), got (N, {got})")
        return (self.out_features,)

    def kernel_shape(self):
        return (self.in_features, self.out_features)

    def get_config(self):
        cfg = {"in_features": self.in_features, "out_features": self.out_features}
        if not self.bias:
            cfg["bias"] = False
        if self.activation != "none":
            cfg["activation"] = self.activation
        if isinstance(self._init_arg, str) and self._init_arg != _DEFAULT_INIT:
            cfg["init"] = self._init_arg
        return cfg

    def _repr_args(self):
        cfg = self.get_config()
        head = f"{cfg.pop('in_features')}, {cfg.pop('out_features')}"
        return ", ".join([head] + [f"{k}={v!r}" for k, v in cfg.items()])


Linear = Dense


class Conv2D(Layer):
    """2-D convolution (cross-correlation) on NCHW input, weights ``(out_ch, in_ch, kH, kW)``.

    ``activation="relu"`` fuses a ReLU into the same kernel call; a separate ReLU layer gives the same
    result. A kernel as large as the input is a fully connected layer written as a convolution (report 004's
    design): input (1, 1, 2) with ``kernel_size=(1, 2)`` gives output (out_ch, 1, 1).
    """

    output_kind = "real"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, activation=None,
                 init=_DEFAULT_INIT, seed=None, dtype="float32", backend=None):
        super().__init__(dtype, backend)
        self.in_channels = check_int("Conv2D: in_channels", in_channels, 1, MAX_FEATURES)
        self.out_channels = check_int("Conv2D: out_channels", out_channels, 1, MAX_FEATURES)
        self.kernel_size = _pair(kernel_size, "Conv2D: kernel_size")
        self.stride = _pair(stride, "Conv2D: stride")
        self.padding = _pair(padding, "Conv2D: padding", minimum=0)
        _check_parameter_count(f"Conv2D({self.in_channels}, {self.out_channels}, {self.kernel_size})",
                               self.in_channels * self.out_channels * self.kernel_size[0] * self.kernel_size[1])
        self._stride_arg, self._padding_arg = _as_kernel_arg(self.stride), _as_kernel_arg(self.padding)
        self.bias = bool(bias)
        self.activation = "none" if activation is None else str(activation).lower()
        if self.activation not in _CONV_FUSED:
            raise ValueError(f"Conv2D: activation must be one of {_CONV_FUSED} or None, got {activation!r}")
        self._init_arg = init
        self.init = make_init(init)
        self._add_parameter("W", (self.out_channels, self.in_channels) + self.kernel_size, regularizable=True)
        if self.bias:
            self._add_parameter("b", (self.out_channels,), regularizable=False)
        self.reset_parameters(seed)
        self._x = self._y = None

    def reset_parameters(self, rng=None):
        area = self.kernel_size[0] * self.kernel_size[1]
        self._fill("W", self.init, self.in_channels * area, self.out_channels * area, rng_of(rng))
        if self.bias:
            self._dev.fill_(self._parameters["b"].data, 0)

    def forward(self, x):
        p = self._parameters
        oh, ow = _conv_out(x.shape[2], self.kernel_size[0], self.stride[0], self.padding[0]), \
            _conv_out(x.shape[3], self.kernel_size[1], self.stride[1], self.padding[1])
        y = self._buffer("y", (x.shape[0], self.out_channels, oh, ow))
        self.kernels.conv2d_forward(x, p["W"].data, p["b"].data if self.bias else None,
                                    self._stride_arg, self._padding_arg, activation=self.activation, out=y)
        if self.training:
            self._x, self._y = x, y
        return y

    def backward(self, dy, need_dx=True):
        if self._x is None:
            raise self._missing_cache()
        p, x = self._parameters, self._x
        if self.activation != "none":
            dy = self.kernels.relu_backward(self._y, dy, out=self._buffer("dz", dy.shape))
        dx, _, _ = self.kernels.conv2d_backward(x, p["W"].data, dy, self._stride_arg, self._padding_arg,
                                                need_dx=need_dx, has_bias=self.bias,
                                                dx=self._buffer("dx", x.shape) if need_dx else None,
                                                dw=p["W"].grad, db=p["b"].grad if self.bias else None)
        return dx

    def plan_step(self):
        return "conv2d", {**_geometry_numbers(self.kernel_size, self.stride, self.padding),
                          "activation": _FUSED.index(self.activation)}

    def output_shape(self, input_shape):
        oh, ow = _spatial_output(self, input_shape, self.in_channels, self.kernel_size, self.stride, self.padding)
        return (self.out_channels, oh, ow)

    def kernel_shape(self):
        return self._parameters["W"].shape

    def get_config(self):
        cfg = {"in_channels": self.in_channels, "out_channels": self.out_channels,
               "kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": list(self.padding)}
        if not self.bias:
            cfg["bias"] = False
        if self.activation != "none":
            cfg["activation"] = self.activation
        if isinstance(self._init_arg, str) and self._init_arg != _DEFAULT_INIT:
            cfg["init"] = self._init_arg
        return cfg

    def _repr_args(self):
        cfg = self.get_config()
        head = f"{cfg.pop('in_channels')}, {cfg.pop('out_channels')}"
        return ", ".join([head] + [f"{k}={tuple(v) if isinstance(v, list) else v!r}" for k, v in cfg.items()])


class _Pool2D(Layer):
    output_kind = "same"

    def __init__(self, kernel_size, stride=None, padding=0, dtype="float32", backend=None):
        super().__init__(dtype, backend)
        name = type(self).__name__
        self.kernel_size = _pair(kernel_size, f"{name}: kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, f"{name}: stride")
        self.padding = _pair(padding, f"{name}: padding", minimum=0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            # PyTorch's rule: a wider padding makes windows that hold padding only.
            raise ValueError(f"{name}: padding must be at most half the kernel size, got padding {self.padding} "
                             f"for kernel_size {self.kernel_size}")
        self._args = tuple(_as_kernel_arg(v) for v in (self.kernel_size, self.stride, self.padding))
        self._x_shape = None

    def output_shape(self, input_shape):
        c = input_shape[0] if len(input_shape) == 3 else None
        return (c,) + _spatial_output(self, input_shape, None, self.kernel_size, self.stride, self.padding)

    def kernel_shape(self):
        return self.kernel_size

    def _geometry(self):
        return _geometry_numbers(self.kernel_size, self.stride, self.padding)

    def get_config(self):
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": list(self.padding)}

    def _repr_args(self):
        return ", ".join(f"{k}={tuple(v)}" for k, v in self.get_config().items())


class MaxPool2D(_Pool2D):
    """Max pooling on NCHW input; ``stride`` defaults to ``kernel_size``."""


    def forward(self, x):
        shape = (x.shape[0],) + self.output_shape(x.shape[1:])
        # Pooling keeps its input's dtype, whatever the layer's.
        y, argmax = self.kernels.max_pool2d_forward(x, *self._args, out=self._buffer("y", shape, x.dtype),
                                                    argmax=self._buffer("argmax", shape, np.int64))
        if self.training:
            self._x_shape, self._argmax = x.shape, argmax
        return y

    def backward(self, dy, need_dx=True):
        if self._x_shape is None:
            raise self._missing_cache()
        if not need_dx:
            return None
        return self.kernels.max_pool2d_backward(dy, self._argmax, self._x_shape,
                                                out=self._buffer("dx", self._x_shape, dy.dtype))

    def plan_step(self):
        return "max_pool2d", self._geometry()


class AvgPool2D(_Pool2D):
    """Average pooling on NCHW input; ``stride`` defaults to ``kernel_size``."""


    def forward(self, x):
        if self.training:
            self._x_shape = x.shape
        shape = (x.shape[0],) + self.output_shape(x.shape[1:])
        return self.kernels.avg_pool2d_forward(x, *self._args, out=self._buffer("y", shape, x.dtype))

    def backward(self, dy, need_dx=True):
        if self._x_shape is None:
            raise self._missing_cache()
        if not need_dx:
            return None
        return self.kernels.avg_pool2d_backward(dy, self._x_shape, *self._args,
                                                out=self._buffer("dx", self._x_shape, dy.dtype))

    def plan_step(self):
        return "avg_pool2d", self._geometry()


class Flatten(Layer):
    """(N, ...) -> (N, prod(...)): a view, no copy."""

    output_kind = "same"

    def __init__(self, dtype="float32", backend=None):
        super().__init__(dtype, backend)
        self._x_shape = None

    def forward(self, x):
        if self.training:
            self._x_shape = x.shape
        return self._dev.reshape(x, (x.shape[0], -1))

    def backward(self, dy, need_dx=True):
        if self._x_shape is None:
            raise self._missing_cache()
        return self._dev.reshape(dy, self._x_shape) if need_dx else None

    def plan_step(self):
        return "identity"  # NCHW samples are already flat rows in memory

    def output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)
