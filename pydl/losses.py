"""Loss functions: ``loss(output, target) -> float``, then ``loss.backward() -> d(loss)/d(output)``.

Each wraps one kernel that computes value and gradient together, into a gradient buffer the loss
reuses. Reduction is the mean (over all elements for MSE/BCE, over the batch for cross-entropy, over
batch and classes for multi-BCE). Names for ``Network(loss=...)``: "mse", "bce", "bce_with_logits",
"cross_entropy", "multi_bce".

Targets are prepared once per call of the network API by :meth:`Loss.prepare_target` (validated,
cast to the network dtype, labels turned into what the kernel takes), never per step, in NumPy; the
network moves them onto its device. Gradient buffers are the backend's arrays; class labels
(``labels``, ``target_labels``) are NumPy integer arrays, for counting correct predictions on the host.
"""
import numpy as np

from . import backends as _backends

__all__ = ["Loss", "MSELoss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "MultiBCELoss", "get"]


def _integral_labels(y):
    """Labels as int64 when ``y`` is integer, bool, or float holding whole numbers; else None."""
    if np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_:
        return y.astype(np.int64)
    if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        return y.astype(np.int64)
    return None


class Loss(_backends.OnBackend):
    """Base class. ``probabilities(output)`` maps the network output to what ``predict_proba`` returns;
    ``labels(output)`` to class labels (threshold 0.5 on a single probability, arg-max across classes)."""

    name = None
    _kernel = None
    # What the loss takes from the network: "logits" (it applies its own sigmoid/softmax),
    # "probabilities" (each output in [0, 1]) or "any".
    expects = "any"

    def __init__(self, backend=None):
        self.backend = backend

    def _backend_changing(self, new):
        self._grads = {}  # buffers of the old backend
        self._grad = None

    @property
    def kernels(self):
        return _backends.resolve(self._device)

    def _grad_buffer(self, output):
        key = (output.shape, output.dtype)
        buf = self._grads.get(key)
        if buf is None:
            if len(self._grads) > 8:
                self._grads.clear()
            buf = self._grads[key] = self._dev.empty(output.shape, output.dtype)
        return buf

    def _host(self, output):
        """The NumPy values of a network output, for class labels (the array itself on host backends)."""
        return output if type(output) is np.ndarray else self._dev.to_numpy(output, copy=False)

    def __call__(self, output, target):
        loss, self._grad = getattr(self.kernels, self._kernel)(output, target, grad=self._grad_buffer(output))
        return loss

    def backward(self):
        """d(loss)/d(output) of the last call (a buffer the loss reuses)."""
        if self._grad is None:
            raise RuntimeError(f"{type(self).__name__}.backward: call the loss first")
        return self._grad

    def probabilities(self, output, kernels=None):
        return output

    # A single output column above this is class 1 (labels and the accuracy count).
    label_threshold = 0.5

    def labels(self, output):
        output = self._host(output)
        if output.ndim == 1 or output.shape[1] == 1:
            return (output.reshape(-1) > self.label_threshold).astype(np.int64)
        return np.argmax(output, axis=1)

    def count_correct(self, output, labels):
        """How many rows of ``output`` predict their class label (NumPy int64 (N,)): fit's and evaluate's
        accuracy count, the kernel the training plan runs too."""
        if output.ndim > 2:
            return int(np.count_nonzero(self.labels(output) == labels))
        dev = self._dev
        return dev.count_correct(output, labels if dev.host else dev.from_numpy(labels), self.label_threshold)

    # ---- targets -------------------------------------------------------------------------------
    def prepare_target(self, y, output_shape, dtype):
        """``y`` checked against the network's per-sample ``output_shape`` and converted for the kernel.

        Element-wise losses take a target of the output's shape; (N,) fits a single output column, and
        integer labels (N,) become one-hot rows for several outputs.
        """
        n = y.shape[0]
        width = int(np.prod(output_shape))
        if y.ndim == 1 and width > 1:
            labels = _integral_labels(y)
            if labels is None:
                raise ValueError(f"{self!r}: target of shape ({n},) must hold integer class labels for "
                                 f"{width} outputs (or pass one-hot targets of shape ({n}, {width}))")
            return self._one_hot(labels, width, dtype)
        if y.size != n * width:
            raise ValueError(f"{self!r}: target of shape {y.shape} does not match the network output "
                             f"(N, {', '.join(map(str, output_shape))}) with N = {n}")
        return np.ascontiguousarray(y.reshape((n,) + tuple(output_shape)), dtype=dtype)

    def _one_hot(self, labels, width, dtype):
        _check_range(self, labels, width)
        out = np.zeros((labels.shape[0], width), dtype=dtype)
        out[np.arange(labels.shape[0]), labels] = 1
        return out

    def target_labels(self, target):
        """Class labels of a prepared target (for accuracy)."""
        return self.labels(target)

    def get_config(self):
        return {}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


def _check_range(loss, labels, classes):
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"{loss!r}: labels must lie in [0, {classes - 1}] for {classes} classes, got range "
                         f"[{labels.min()}, {labels.max()}]")


def _check_unit_interval(loss, y):
    if y.size and (y.min() < 0 or y.max() > 1):
        raise ValueError(f"{loss!r}: targets must lie in [0, 1], got range [{y.min():g}, {y.max():g}]")


class MSELoss(Loss):
    """mean((output - target)²) over all elements."""

    name = "mse"
    _kernel = "mse_loss"


class BCELoss(Loss):
    """Binary cross-entropy on probabilities (a sigmoid output), clipped to [eps, 1-eps]."""

    name = "bce"
    _kernel = "bce_loss"
    expects = "probabilities"

    def __init__(self, eps=1e-7, backend=None):
        super().__init__(backend)
        if not 0 < eps < 0.5:
            raise ValueError(f"BCELoss: eps must lie in (0, 0.5), got {eps}")
        self.eps = float(eps)

    def __call__(self, output, target):
        loss, self._grad = self.kernels.bce_loss(output, target, eps=self.eps, grad=self._grad_buffer(output))
        return loss

    def prepare_target(self, y, output_shape, dtype):
        t = super().prepare_target(y, output_shape, dtype)
        _check_unit_interval(self, t)
        return t

    def get_config(self):
        return {} if self.eps == 1e-7 else {"eps": self.eps}


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy of sigmoid(output): the stable pairing of a linear output and BCE."""

    name = "bce_with_logits"
    _kernel = "bce_with_logits_loss"
    expects = "logits"
    link = "sigmoid"

    def probabilities(self, output, kernels=None):
        return (kernels or self.kernels).sigmoid(output)

    label_threshold = 0.0

    def target_labels(self, target):
        if target.ndim == 1 or target.shape[1] == 1:
            return (target.reshape(-1) > 0.5).astype(np.int64)
        return np.argmax(target, axis=1)

    def prepare_target(self, y, output_shape, dtype):
        t = super().prepare_target(y, output_shape, dtype)
        _check_unit_interval(self, t)
        return t


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy from logits (N, C); targets integer labels (N,) or one-hot/probability rows."""

    name = "cross_entropy"
    _kernel = "softmax_cross_entropy"
    expects = "logits"
    link = "softmax"

    def probabilities(self, output, kernels=None):
        return (kernels or self.kernels).softmax(output)

    def labels(self, output):
        return np.argmax(self._host(output), axis=1)

    def target_labels(self, target):
        return target if target.ndim == 1 else np.argmax(target, axis=1)

    def prepare_target(self, y, output_shape, dtype):
        if len(output_shape) != 1 or output_shape[0] < 2:
            raise ValueError(f"{self!r}: needs logits of shape (N, C) with C >= 2, the network gives "
                             f"(N, {', '.join(map(str, output_shape))})")
        classes = output_shape[0]
        if y.ndim == 2 and y.shape[1] == 1:  # a column of labels, as (N, 1) arrays often come
            y = y[:, 0]
        if y.ndim == 1:
            labels = _integral_labels(y)
            if labels is None:
                raise ValueError(f"{self!r}: target of shape {y.shape} must hold integer class labels")
            _check_range(self, labels, classes)
            return labels
        if y.shape[1:] != (classes,):
            raise ValueError(f"{self!r}: target of shape {y.shape} does not match logits (N, {classes})")
        t = np.ascontiguousarray(y, dtype=dtype)
        _check_unit_interval(self, t)
        return t


class MultiBCELoss(CrossEntropyLoss):
    """One sigmoid and binary cross-entropy per class (report 002), mean over batch and classes;
    targets integer labels (N,) or one-hot rows (N, C). Gradient sigmoid(output) - target."""

    name = "multi_bce"
    _kernel = "multi_bce_loss"
    link = "sigmoid"

    def probabilities(self, output, kernels=None):
        return (kernels or self.kernels).sigmoid(output)


_BY_NAME = {cls.name: cls for cls in (MSELoss, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MultiBCELoss)}
_ALIASES = {"mean_squared_error": "mse", "binary_crossentropy": "bce", "binary_cross_entropy": "bce",
            "crossentropy": "cross_entropy", "softmax_cross_entropy": "cross_entropy", "ce": "cross_entropy"}
# Keras names whose Keras meaning (probabilities from a final softmax) pydl's logits loss does not have.
_KERAS_PROBABILITY_LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy")


def get(loss):
    """A loss from a name or an instance (returned as is)."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str):
        if loss.lower() in _KERAS_PROBABILITY_LOSSES:
            raise ValueError(f"loss {loss!r}: in Keras this name takes probabilities from a final softmax; pydl's "
                             f"cross-entropy takes logits and applies the softmax itself (stabler). Remove the final "
                             f"Softmax and use loss='cross_entropy' (integer labels or one-hot rows both work); "
                             f"predict_proba still returns probabilities.")
        key = _ALIASES.get(loss.lower(), loss.lower())
        if key in _BY_NAME:
            return _BY_NAME[key]()
        raise ValueError(f"unknown loss {loss!r}; known: {', '.join(sorted(_BY_NAME))}")
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss()
    raise TypeError(f"loss must be a name or a pydl.losses.Loss, got {type(loss).__name__}")
