"""Batch normalization layers (PyTorch's BatchNorm1d/BatchNorm2d)."""
import math

from .._args import check_hyper, check_int
from .base import Layer
from .layers import MAX_FEATURES


class _BatchNorm(Layer):
    """Per-channel normalization with learned scale ``gamma`` (ones) and shift ``beta`` (zeros).

    Training mode normalizes with the batch mean and biased variance and moves the running statistics
    (``running_mean`` zeros, ``running_var`` ones, the unbiased batch variance) by ``momentum``; eval mode
    normalizes with the running statistics. The running statistics are persistent buffers: saved and
    loaded with the network, restored with it when fit restores, never touched by optimizers.
    """

    output_kind = "real"
    _ranks = ()  # accepted per-sample input ranks

    def __init__(self, num_features, eps=1e-5, momentum=0.1, dtype="float32", backend=None):
        super().__init__(dtype, backend)
        name = type(self).__name__
        self.num_features = check_int(f"{name}: num_features", num_features, 1, MAX_FEATURES)
        self.eps = check_hyper(name, "eps", eps, 0.0, 1.0, above=True)
        self.momentum = check_hyper(name, "momentum", momentum, 0.0, 1.0)
        c = (self.num_features,)
        self._add_parameter("gamma", c, regularizable=False)
        self._add_parameter("beta", c, regularizable=False)
        self._add_persistent("running_mean", c, 0.0)
        self._add_persistent("running_var", c, 1.0)
        self.reset_parameters()
        self._x = None

    def reset_parameters(self, rng=None):
        self._dev.fill_(self._parameters["gamma"].data, 1)
        self._dev.fill_(self._parameters["beta"].data, 0)

    def forward(self, x):
        p, b, k = self._parameters, self._persistent, self.kernels
        y = self._buffer("y", x.shape)
        if not self.training:
            return k.batch_norm_inference(x, p["gamma"].data, p["beta"].data, b["running_mean"], b["running_var"],
                                          self.eps, out=y)
        c = (self.num_features,)
        _, mean, invstd = k.batch_norm_forward(x, p["gamma"].data, p["beta"].data, b["running_mean"],
                                               b["running_var"], self.momentum, self.eps, out=y,
                                               mean=self._buffer("mean", c), invstd=self._buffer("invstd", c))
        self._x, self._mean, self._invstd = x, mean, invstd
        return y

    def backward(self, dy, need_dx=True):
        if self._x is None:
            raise self._missing_cache()
        p, x = self._parameters, self._x
        dx, _, _ = self.kernels.batch_norm_backward(x, p["gamma"].data, dy, self._mean, self._invstd,
                                                    need_dx=need_dx, dx=self._buffer("dx", x.shape) if need_dx else None,
                                                    dgamma=p["gamma"].grad, dbeta=p["beta"].grad)
        return dx

    def plan_step(self):
        return "batch_norm", {"momentum": self.momentum, "eps": self.eps}

    def output_shape(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) not in self._ranks or shape[0] != self.num_features:
            want = self._shapes.format(c=self.num_features)
            raise ValueError(f"{self!r}: expected input of shape {want}, got (N, {', '.join(map(str, shape))})")
        return shape

    def check_batch(self, rows, input_shape):
        """ValueError when a training batch of ``rows`` samples gives a channel a single value (PyTorch
        refuses it too: the variance of one value is no statistic)."""
        values = rows * int(math.prod(input_shape[1:]))
        if values < 2:
            raise ValueError(f"{self!r} needs more than 1 value per channel in training, but a batch of {rows} "
                             f"sample(s) of shape {tuple(input_shape)} gives {values}; use a batch_size that leaves "
                             f"no batch of one sample")

    def get_config(self):
        cfg = {"num_features": self.num_features}
        if self.eps != 1e-5:
            cfg["eps"] = self.eps
        if self.momentum != 0.1:
            cfg["momentum"] = self.momentum
        return cfg

    def _repr_args(self):
        cfg = self.get_config()
        return ", ".join([str(cfg.pop("num_features"))] + [f"{k}={v!r}" for k, v in cfg.items()])


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) input over the batch (and L), per feature C
    (PyTorch's BatchNorm1d: eps 1e-5, momentum 0.1, affine, running statistics)."""

    _ranks = (1, 2)
    _shapes = "(N, {c}) or (N, {c}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of NCHW input per channel, over the batch and the H x W positions (PyTorch's
    BatchNorm2d: eps 1e-5, momentum 0.1, affine, running statistics)."""

    _ranks = (3,)
    _shapes = "(N, {c}, H, W)"
