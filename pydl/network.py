"""Network (also ``Sequential``): a stack of layers with a loss and an optimizer, and History."""
import sys
import time

import numpy as np

from . import backend as _backend
from . import losses as _losses
from . import optim as _optim
from .callbacks import Callback
from .metrics import to_labels
from .native import NativePlan
from .nn.base import Layer, as_float_dtype

__all__ = ["History", "Network", "Sequential"]


class History:
    """Per-epoch records of :meth:`Network.fit`, Keras style: ``history.history[key]`` is a list with one
    value per epoch.

    Keys: ``loss`` (mean data loss over the epoch's batches, each taken before its update), ``accuracy``
    (same batches), ``cost`` (loss + λ·Σ‖W‖² with the weights at the epoch's end; equals loss when
    l2 = 0), ``lr`` (the rate the epoch trained with), ``time`` (seconds for the epoch, validation
    included) and, with validation data, ``val_loss``, ``val_accuracy``, ``val_cost`` measured after
    the epoch.
    """

    def __init__(self):
        self.history = {}
        self.epoch = []

    def append(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key):
        return self.history[key]

    def __len__(self):
        return len(self.epoch)

    def __repr__(self):
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items())
        return f"History({len(self)} epochs{': last ' + last if last else ''})"

    def plot(self, path=None, keys=("loss", "accuracy")):
        """Plot each key (and its ``val_`` twin) against the epoch, one panel per key; save to ``path``
        or, without one, show the figure. Needs matplotlib (``pip install matplotlib``)."""
        try:
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install matplotlib "
                              "(or pip install pydl[plot])") from None
        keys = [k for k in keys if k in self.history]
        if not keys:
            raise ValueError(f"History.plot: nothing to plot; recorded keys are {sorted(self.history)}")
        epochs = [e + 1 for e in self.epoch]
        if path is None:
            import matplotlib.pyplot as plt
            fig = plt.figure(figsize=(5 * len(keys), 4))
        else:
            fig = Figure(figsize=(5 * len(keys), 4))
        for i, key in enumerate(keys):
            ax = fig.add_subplot(1, len(keys), i + 1)
            ax.plot(epochs, self.history[key], label=f"train {key}")
            if "val_" + key in self.history:
                ax.plot(epochs, self.history["val_" + key], label=f"validation {key}")
            ax.set_xlabel("epoch")
            ax.set_ylabel(key)
            ax.legend()
        fig.tight_layout()
        if path is None:
            plt.show()
        else:
            fig.savefig(path)
        return fig


def _shape_str(shape):
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


class Network:
    """A sequence of layers trained on one loss with one optimizer.

    ``Network(layers, loss="bce", optimizer=optim.SGD(lr=5.0), l2=0.0, dtype=None, backend=None, seed=None,
    input_shape=None)``:

    - ``loss``: a name ("mse", "bce", "bce_with_logits", "cross_entropy", "multi_bce") or a Loss.
    - ``optimizer``: a name or an Optimizer, unbound (bound here) or built on ``net.parameters()``.
    - ``l2``: λ of the L2 term λ·Σ‖W‖² on weights (not biases), reported separately as ``cost``.
    - ``dtype``: float32 or float64 for every layer (None: float64 if any layer is, else float32).
    - ``backend``: "cpp" or "numpy" for every layer, the loss and the optimizer (None: the default,
      see :func:`pydl.set_backend`).
    - ``seed``: re-draws every layer's parameters from ``np.random.default_rng(seed)`` and seeds
      shuffling, so one seed gives one run bit for bit.
    - ``input_shape``: per-sample input shape, for ``summary()`` (inferred when the first layer is Dense).

    Inputs are checked, cast to the dtype and made C-contiguous once per call of ``fit``/``predict``/
    ``evaluate``/``train_step``; bad input raises ValueError/TypeError before any work.
    """

    def __init__(self, layers, loss=None, optimizer=None, l2=0.0, dtype=None, backend=None, seed=None,
                 input_shape=None):
        layers = list(layers)
        if not layers:
            raise ValueError("Network: needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Network: layer {i} is a {type(layer).__name__}, not a pydl.nn.Layer")
        if dtype is None:
            dtype = np.float64 if any(layer.dtype == np.float64 for layer in layers) else np.float32
        self.dtype = as_float_dtype(dtype)
        self.backend = _backend.normalize(backend)
        self.layers = layers
        for layer in layers:
            layer.set_dtype(self.dtype)
            if self.backend is not None:
                layer.backend = self.backend
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        if seed is not None:
            for layer in layers:
                layer.reset_parameters(self._rng)
        if input_shape is None and hasattr(layers[0], "in_features"):
            input_shape = (layers[0].in_features,)
        self.input_shape = None if input_shape is None else tuple(int(d) for d in input_shape)
        if self.input_shape is not None:
            self._output_shape(self.input_shape, "Network")
        # A layer's input gradient is needed only when some layer before it has parameters.
        self._need_dx = [any(prev.num_params() for prev in layers[:i]) for i in range(len(layers))]
        self.loss = None
        self.optimizer = None
        self.l2 = 0.0
        self.stop_training = False
        self._last_input_shape = None
        # fit trains whole epochs in C++ when every layer, the loss and the optimizer allow it (pydl.native);
        # False keeps the Python loop, e.g. to compare the two.
        self.native = True
        self.compile(loss, optimizer, l2)

    def compile(self, loss=None, optimizer=None, l2=None):
        """Set the loss, the optimizer and/or λ of the L2 term (None leaves each as it is)."""
        if loss is not None:
            self.loss = _losses.get(loss)
            if self.backend is not None:
                self.loss.backend = self.backend
        if optimizer is not None:
            opt = _optim.get(optimizer)
            own = {id(p) for p in self.parameters()}
            if opt.bound and any(id(p) not in own for p in opt.params):
                raise ValueError("Network: the optimizer was built on parameters of another network")
            if not opt.bound:
                opt.bind(self.parameters())
            if self.backend is not None:
                opt.backend = self.backend
            self.optimizer = opt
        if l2 is not None:
            l2 = float(l2)
            if not l2 >= 0:
                raise ValueError(f"Network: l2 must be >= 0, got {l2}")
            self.l2 = l2
            for p in self.parameters():
                p.l2 = l2 if p.regularizable else 0.0
        return self

    # ---- structure -------------------------------------------------------------------------------
    def parameters(self):
        """All Parameters, layer by layer (for PyTorch-style optimizers)."""
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self):
        """(``"layer{i}.{name}"``, Parameter) pairs, the names used by save/load and gradcheck."""
        return [(f"layer{i}.{p.name}", p) for i, layer in enumerate(self.layers) for p in layer.parameters()]

    def num_params(self):
        return sum(layer.num_params() for layer in self.layers)

    def train(self, mode=True):
        for layer in self.layers:
            layer.train(mode)
        return self

    def eval(self):
        return self.train(False)

    @property
    def training(self):
        return self.layers[0].training

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self):
        body = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        extra = [f"loss={self.loss!r}", f"optimizer={self.optimizer!r}", f"dtype={self.dtype.name}"]
        if self.l2:
            extra.append(f"l2={self.l2}")
        return f"{type(self).__name__}({body}\n  {', '.join(extra)}\n)"

    def _output_shape(self, input_shape, fn):
        shape = tuple(input_shape)
        for layer in self.layers:
            try:
                shape = layer.output_shape(shape)
            except ValueError as e:
                raise ValueError(f"{fn}: {e}") from None
        return shape

    def summary(self, input_shape=None, print_fn=print):
        """Per layer: input shape, kernel, stride, output shape and parameter count (per sample, without
        the batch dimension), like report 004's print_layers. Prints it and returns the text."""
        shape = input_shape or self.input_shape or self._last_input_shape
        if shape is None:
            raise ValueError("summary: the input shape is unknown; pass summary(input_shape=...) "
                             "or Network(..., input_shape=...)")
        shape = tuple(shape)
        rows = [("Layer", "Type", "Input", "Kernel", "Stride", "Output", "Params")]
        for i, layer in enumerate(self.layers):
            try:
                out = layer.output_shape(shape)
            except ValueError as e:
                raise ValueError(f"summary: {e}") from None
            kernel = layer.kernel_shape()
            stride = getattr(layer, "stride", None)
            rows.append((f"#{i + 1}", type(layer).__name__, _shape_str(shape),
                         "-" if kernel is None else _shape_str(kernel), "-" if stride is None else _shape_str(stride),
                         _shape_str(out), str(layer.num_params())))
            shape = out
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.append(f"Total params: {self.num_params()}  (dtype {self.dtype.name})")
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    # ---- the boundary: validation and conversion, once per call ----------------------------------
    def _input(self, x, fn):
        if not isinstance(x, np.ndarray):
            try:
                x = np.asarray(x)
            except ValueError as e:
                raise ValueError(f"{fn}: x is not a rectangular array ({e})") from None
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{fn}: x must be a numeric array, got dtype {x.dtype}")
        if x.ndim < 2:
            raise ValueError(f"{fn}: x must have shape (N, features...), got {x.shape}")
        if x.shape[0] == 0:
            raise ValueError(f"{fn}: x is empty (shape {x.shape})")
        out_shape = self._output_shape(x.shape[1:], fn)
        x = np.ascontiguousarray(x, dtype=self.dtype)
        if not np.isfinite(x).all():
            raise ValueError(f"{fn}: x contains NaN or infinity")
        self._last_input_shape = x.shape[1:]
        return x, out_shape

    def _target(self, y, n, out_shape, fn):
        """The target prepared for the loss kernel, and its class labels for accuracy."""
        if not isinstance(y, np.ndarray):
            y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"{fn}: y must be a numeric array, got dtype {y.dtype}")
        if y.ndim == 0 or y.shape[0] != n:
            raise ValueError(f"{fn}: y has {y.shape[0] if y.ndim else 0} samples but x has {n}")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise ValueError(f"{fn}: y contains NaN or infinity")
        try:
            t = self.loss.prepare_target(y, out_shape, self.dtype)
        except ValueError as e:
            raise ValueError(f"{fn}: {e}") from None
        return t, self.loss.target_labels(t)

    def _require(self, fn, optimizer=True):
        if self.loss is None:
            raise RuntimeError(f"{fn}: no loss; pass loss= to Network or call compile(loss=...)")
        if optimizer and self.optimizer is None:
            raise RuntimeError(f"{fn}: no optimizer; pass optimizer= to Network or call compile(optimizer=...)")

    # ---- computation -----------------------------------------------------------------------------
    def _forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def _backward(self, dy, need_dx=False):
        for layer, nd in zip(reversed(self.layers), reversed(self._need_dx)):
            dy = layer.backward(dy, need_dx=nd or need_dx)
            if dy is None:
                break
        return dy

    def _train_step(self, x, t):
        out = self._forward(x)
        loss = self.loss(out, t)
        self._backward(self.loss.backward())
        self.optimizer.step()
        return loss, out

    def forward(self, x):
        """The network output for ``x`` (a fresh array); keeps the caches ``backward`` needs."""
        x, _ = self._input(x, "forward")
        return self._forward(x).copy()

    def backward(self, dy=None):
        """Back-propagate ``dy`` (default: the gradient of the last loss call) through all layers,
        leaving the parameter gradients in each layer's ``grads``; returns d/dx of the input."""
        if dy is None:
            if self.loss is None:
                raise RuntimeError("backward: no dy given and no loss to take it from")
            dy = self.loss.backward()
        else:
            dy = np.ascontiguousarray(dy, dtype=self.dtype)
        return self._backward(dy, need_dx=True)

    def train_step(self, x, y):
        """One forward/backward/update on the batch (x, y); returns the data loss before the update."""
        self._require("train_step")
        x, out_shape = self._input(x, "train_step")
        t, _ = self._target(y, x.shape[0], out_shape, "train_step")
        return self._train_step(x, t)[0]

    def _batches(self, n, batch_size):
        bs = n if batch_size is None else batch_size
        return range(0, n, bs), bs

    def _infer(self, x, batch_size, fn):
        """Output for x in eval mode, batch by batch, as one fresh array."""
        x, out_shape = self._input(x, fn)
        batch_size = self._check_batch_size(batch_size, fn)
        was_training = self.training
        self.eval()
        try:
            starts, bs = self._batches(x.shape[0], batch_size)
            if bs >= x.shape[0]:
                return self._forward(x).copy()
            out = np.empty((x.shape[0],) + out_shape, dtype=self.dtype)
            for s in starts:
                out[s:s + bs] = self._forward(x[s:s + bs])
            return out
        finally:
            self.train(was_training)

    def predict_proba(self, x, batch_size=None):
        """Probabilities: the output through the loss's link (sigmoid for logits losses, softmax for
        cross-entropy), the raw output for BCE/MSE."""
        out = self._infer(x, batch_size, "predict_proba")
        if self.loss is None:
            return out
        return self.loss.probabilities(out, _backend.resolve(self.backend))

    def predict(self, x, batch_size=None):
        """Class labels (N,): threshold 0.5 on a single probability output, arg-max across classes."""
        out = self._infer(x, batch_size, "predict")
        return to_labels(out) if self.loss is None else self.loss.labels(out)

    def _check_batch_size(self, batch_size, fn):
        if batch_size is None:
            return None
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"{fn}: batch_size must be a positive integer or None, got {batch_size!r}")
        return int(batch_size)

    def regularization(self):
        """λ·Σ‖W‖² over the weights (0 when l2 = 0)."""
        if not self.l2:
            return 0.0
        k = _backend.resolve(self.backend)
        total = 0.0
        for p in self.parameters():
            if p.regularizable:
                v = p.data.reshape(1, -1)
                total += float(k.matmul(v, v, trans_b=True)[0, 0])
        return self.l2 * total

    def _evaluate(self, x, t, labels, batch_size):
        was_training = self.training
        self.eval()
        try:
            n = x.shape[0]
            starts, bs = self._batches(n, batch_size)
            loss_sum, correct = 0.0, 0
            for s in starts:
                out = self._forward(x[s:s + bs])
                loss_sum += self.loss(out, t[s:s + bs]) * out.shape[0]
                correct += int(np.count_nonzero(self.loss.labels(out) == labels[s:s + bs]))
        finally:
            self.train(was_training)
        loss = loss_sum / n
        return {"loss": loss, "accuracy": correct / n, "cost": loss + self.regularization()}

    def evaluate(self, x, y, batch_size=None):
        """{"loss": mean data loss, "accuracy": ..., "cost": loss + L2 term} on (x, y)."""
        self._require("evaluate", optimizer=False)
        batch_size = self._check_batch_size(batch_size, "evaluate")
        x, out_shape = self._input(x, "evaluate")
        t, labels = self._target(y, x.shape[0], out_shape, "evaluate")
        return self._evaluate(x, t, labels, batch_size)

    # ---- training --------------------------------------------------------------------------------
    def fit(self, x, y, epochs=1, batch_size=None, shuffle=True, validation_data=None, validation_split=0.0,
            verbose=None, callbacks=None, seed=None):
        """Train for ``epochs`` passes over (x, y) in batches of ``batch_size`` (None: full batch).

        ``shuffle`` reshuffles every epoch (skipped for full batches, where order is irrelevant), with
        ``np.random.default_rng(seed)`` or, without a seed, the network's generator. Validation on
        ``validation_data=(x_val, y_val)`` or the last ``validation_split`` fraction of x (Keras style, taken
        before shuffling) runs after each epoch. ``verbose``: None shows a tqdm bar when stderr is a
        terminal, 0 nothing, 1 the bar, 2 one line per epoch. ``callbacks``: Callback objects, e.g. LR
        schedules. Returns a :class:`History`.
        """
        self._require("fit")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
        batch_size = self._check_batch_size(batch_size, "fit")
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: validation_split must lie in [0, 1), got {validation_split}")
        if verbose not in (None, 0, 1, 2):
            raise ValueError(f"fit: verbose must be None, 0, 1 or 2, got {verbose!r}")
        x, out_shape = self._input(x, "fit")
        t, labels = self._target(y, x.shape[0], out_shape, "fit")
        val = None
        if validation_data is not None:
            if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
                raise ValueError("fit: validation_data must be a pair (x_val, y_val)")
            xv, vshape = self._input(validation_data[0], "fit: validation_data")
            val = (xv,) + self._target(validation_data[1], xv.shape[0], vshape, "fit: validation_data")
        elif validation_split:
            n_val = int(x.shape[0] * validation_split)
            if n_val < 1 or n_val >= x.shape[0]:
                raise ValueError(f"fit: validation_split={validation_split} of {x.shape[0]} samples leaves an "
                                 f"empty training or validation set")
            cut = x.shape[0] - n_val
            val = (x[cut:], t[cut:], labels[cut:])
            x, t, labels = x[:cut], t[:cut], labels[:cut]
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"fit: callbacks must be pydl.callbacks.Callback objects, got {type(cb).__name__}")
        rng = self._rng if seed is None else np.random.default_rng(seed)
        return self._fit(x, t, labels, epochs, batch_size, shuffle, val, verbose, callbacks, rng)

    def _fit(self, x, t, labels, epochs, batch_size, shuffle, val, verbose, callbacks, rng):
        n = x.shape[0]
        starts, bs = self._batches(n, batch_size)
        shuffle = shuffle and bs < n
        batch_hooks = [cb for cb in callbacks if type(cb).on_batch_end is not Callback.on_batch_end]
        # Whole epochs in C++ when nothing needs Python between batches: same results, same shuffling.
        plan = NativePlan.from_network(self) if self.native and not batch_hooks else None
        if shuffle and plan is None:
            xs, ts, ls = np.empty_like(x), np.empty_like(t), np.empty_like(labels)
        else:
            xs, ts, ls = x, t, labels
        history = History()
        self.train()
        self.stop_training = False
        for cb in callbacks:
            cb.on_train_begin(self)
        bar = None
        if verbose == 1 or (verbose is None and sys.stderr.isatty()):
            from tqdm.auto import tqdm
            bar = tqdm(total=epochs, unit="epoch", leave=True)
        epochs_left = range(epochs)
        if plan is not None and epochs and not (shuffle or callbacks or val is not None or bar is not None
                                                or verbose == 2 or self.l2):
            # Nothing runs between epochs (small full-batch problems): all of them in one native call.
            t0 = time.perf_counter()
            losses, accuracies = plan.run_epochs(x, t, epochs)
            seconds = (time.perf_counter() - t0) / epochs
            for epoch, (loss, accuracy) in enumerate(zip(losses.tolist(), accuracies.tolist())):
                history.append(epoch, {"loss": loss, "accuracy": accuracy, "cost": loss, "lr": self.optimizer.lr,
                                       "time": seconds})
            epochs_left = ()
        try:
            for epoch in epochs_left:
                t0 = time.perf_counter()
                for cb in callbacks:
                    cb.on_epoch_begin(epoch)
                perm = rng.permutation(n) if shuffle else None
                if plan is not None:
                    loss, accuracy = plan.run_epoch(x, t, perm, bs)
                    logs = {"loss": loss, "accuracy": accuracy}
                else:
                    logs = self._python_epoch(x, t, labels, xs, ts, ls, perm, starts, bs, batch_hooks)
                logs["cost"] = logs["loss"] + self.regularization()
                if val is not None:
                    logs.update({"val_" + k: v for k, v in self._evaluate(*val, batch_size).items()})
                logs["lr"] = self.optimizer.lr
                logs["time"] = time.perf_counter() - t0
                history.append(epoch, logs)
                for cb in callbacks:
                    cb.on_epoch_end(epoch, logs)
                if bar is not None:
                    bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items() if "loss" in k or "accuracy" in k},
                                    refresh=False)
                    bar.update(1)
                elif verbose == 2:
                    print(f"Epoch {epoch + 1}/{epochs}: " + "  ".join(
                        f"{k} {v:.4f}" for k, v in logs.items() if k != "lr"), flush=True)
                if self.stop_training:
                    break
        finally:
            if bar is not None:
                bar.close()
        for cb in callbacks:
            cb.on_train_end(history)
        return history

    def _python_epoch(self, x, t, labels, xs, ts, ls, perm, starts, bs, batch_hooks):
        """One epoch through the layers' Python forward/backward; (xs, ts, ls) receive the shuffled data."""
        if perm is not None:
            np.take(x, perm, axis=0, out=xs)
            np.take(t, perm, axis=0, out=ts)
            np.take(labels, perm, axis=0, out=ls)
        loss_sum, correct = 0.0, 0
        for b, s in enumerate(starts):
            loss, out = self._train_step(xs[s:s + bs], ts[s:s + bs])
            loss_sum += loss * out.shape[0]
            correct += int(np.count_nonzero(self.loss.labels(out) == ls[s:s + bs]))
            for cb in batch_hooks:
                cb.on_batch_end(b, loss)
        n = x.shape[0]
        return {"loss": loss_sum / n, "accuracy": correct / n}

    # ---- persistence -----------------------------------------------------------------------------
    def save(self, path):
        """Architecture (JSON) and weights in one .npz, written atomically; read back with pydl.load."""
        from .serialization import save

        save(self, path)

    def copy(self, dtype=None):
        """An independent network with the same layers, weights, loss and l2 (optimizer state not copied)."""
        from .serialization import from_arrays, to_arrays

        return from_arrays(to_arrays(self), dtype=dtype)


Sequential = Network
