"""Network (also ``Sequential``): a stack of layers with a loss and an optimizer; inference and the
checks at the API boundary. Training itself (fit, History, progress) is in :mod:`pydl.training`."""
import numpy as np

from . import backends as _backends
from . import losses as _losses
from . import optim as _optim
from . import random as _random
from . import training as _training
from ._args import check_hyper, check_int
from .callbacks import callback_list
from .metrics import to_labels
from .nn.base import Layer, as_float_dtype
from .training import History

__all__ = ["History", "Network", "Sequential"]


_MAX_EPOCHS = 10**9  # more is a typo, and would train until the machine is switched off


def _checked_shape(what, shape):
    """A per-sample shape as a tuple of integers in [1, 2**31]; TypeError/ValueError naming ``what``."""
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"{what} must be a tuple of integers, got {shape!r}")
    return tuple(check_int(f"{what}[{i}]", d, 1, 2**31) for i, d in enumerate(shape))


def _shape_str(shape):
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


class Network:
    """A sequence of layers trained on one loss with one optimizer.

    ``Network(layers, loss="bce", optimizer=optim.SGD(lr=5.0), l2=0.0, dtype=None, backend=None, seed=None,
    input_shape=None, device=None)``:

    - ``loss``: a name ("mse", "bce", "bce_with_logits", "cross_entropy", "multi_bce") or a Loss.
    - ``optimizer``: a name or an Optimizer, unbound (bound here) or built on ``net.parameters()``.
    - ``l2``: λ of the L2 term λ·Σ‖W‖² on weights (not biases), reported separately as ``cost``.
    - ``dtype``: float32 or float64 for every layer (None: float64 if any layer is, else float32).
    - ``device`` (or its older name ``backend``): where every layer, the loss and the optimizer compute and
      keep their arrays: "cpu" (the C++ kernels; "cpp" is an alias), "numpy" (the NumPy twins), a registered
      name or a :class:`pydl.backends.Backend`. The layers are moved there. None: the default (see
      :func:`pydl.set_backend`); the layers must then hold arrays of its memory. ``net.to(device)`` moves.
    - ``seed``: re-draws every layer's parameters from ``np.random.default_rng(seed)`` and seeds
      shuffling, so one seed gives one run bit for bit.
    - ``input_shape``: per-sample input shape, for ``summary()`` (inferred when the first layer is Dense).

    Inputs are checked, cast to the dtype and made C-contiguous once per call of ``fit``/``predict``/
    ``evaluate``/``train_step``; bad input raises ValueError/TypeError before any work. Inputs are NumPy
    data (or arrays of the network's own device), copied onto the device at this boundary; arrays of
    another device raise TypeError (never copied silently). Results (``predict``, ``forward``...) are NumPy.
    """

    def __init__(self, layers, loss=None, optimizer=None, l2=0.0, dtype=None, backend=None, seed=None,
                 input_shape=None, device=None):
        layers = list(layers)
        if not layers:
            raise ValueError("Network: needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Network: layer {i} is a {type(layer).__name__}, not a pydl.nn.Layer")
        if dtype is None:
            dtype = np.float64 if any(layer.dtype == np.float64 for layer in layers) else np.float32
        self.dtype = as_float_dtype(dtype)
        self._device = _device_argument(device, backend)
        self.layers = layers
        for i, layer in enumerate(layers):
            layer.set_dtype(self.dtype)
            if self._device is not None:
                layer.to(self._device)
            elif not layer._dev.same_memory(self._dev):
                raise ValueError(f"Network: layer {i} holds arrays of device {layer.device!r}, the network computes "
                                 f"on {self.device!r}; pass device={layer.device!r} or move the layer with .to()")
        self.seed = _random.check_seed("Network", seed)
        self._rng = _random.spawn(seed)
        if seed is not None:
            for layer in layers:
                layer.reset_parameters(self._rng)
        if input_shape is None and hasattr(layers[0], "in_features"):
            input_shape = (layers[0].in_features,)
        self.input_shape = None if input_shape is None else _checked_shape("Network: input_shape", input_shape)
        if self.input_shape is not None:
            self._output_shape(self.input_shape, "Network")
        # A layer's input gradient is needed only when some layer before it has parameters.
        self._need_dx = [bool(seen) for seen in np.cumsum([0] + [layer.num_params() for layer in layers[:-1]])]
        self.loss = None
        self.optimizer = None
        self.l2 = 0.0
        self.stop_training = False
        self._last_input_shape = None
        # fit trains whole epochs in C++ when every layer, the loss and the optimizer allow it (pydl.plan);
        # False keeps the Python loop, e.g. to compare the two.
        self.native = True
        self.compile(loss, optimizer, l2)

    def compile(self, loss=None, optimizer=None, l2=None):
        """Set the loss, the optimizer and/or λ of the L2 term (None leaves each as it is). Everything is
        checked before anything changes: a refused call leaves the network as it was."""
        new_loss = _losses.get(loss) if loss is not None else None
        if new_loss is not None:
            self._check_output_for_loss(new_loss)
        opt = None
        if optimizer is not None:
            opt = _optim.get(optimizer)
            own = {id(p) for p in self.parameters()}
            if opt.bound and any(id(p) not in own for p in opt.params):
                raise ValueError("Network: the optimizer was built on parameters of another network")
        if l2 is not None:
            l2 = check_hyper("Network", "l2", l2, minimum=0.0)
        if new_loss is not None:
            self.loss = new_loss
            if self._device is not None:
                self.loss.backend = self._device
        if opt is not None:
            if not opt.bound:
                opt.bind(self.parameters())
            if self._device is not None:
                opt.to(self._device)
            self.optimizer = opt
        if l2 is not None:
            self.l2 = l2
            for p in self.parameters():
                p.l2 = l2 if p.regularizable else 0.0
        return self

    def _check_output_for_loss(self, loss):
        """Refuse a model whose last layer and loss don't fit together (double softmax, BCE on unbounded
        outputs), before it trains something other than what was meant."""
        index, kind = len(self.layers) - 1, "same"
        while kind == "same" and index >= 0:
            kind = self.layers[index].output_kind
            index += -1 if kind == "same" else 0
        if index < 0 or kind == "unknown":
            return
        final = self.layers[index]
        layer = f"layer {index} ({type(final).__name__})"
        if loss.expects == "logits" and kind in ("probability", "distribution"):
            what = "activation='sigmoid' of that Dense" if hasattr(final, "activation") else type(final).__name__
            raise ValueError(f"Network: {layer} outputs probabilities, but loss {loss.name!r} takes logits and applies "
                             f"its own {loss.link}, so training would apply it twice. Remove the final {what} "
                             f"(predict_proba still returns probabilities).")
        if loss.expects == "probabilities" and kind not in ("probability", "distribution"):
            raise ValueError(f"Network: loss {loss.name!r} takes probabilities in [0, 1], but {layer} outputs "
                             f"unbounded values. End the network with Sigmoid(), or drop it and use "
                             f"loss='bce_with_logits' on the raw outputs.")

    # ---- device ----------------------------------------------------------------------------------
    @property
    def device(self):
        """The name of the backend the network computes on (``"cpu"``, ``"numpy"``, ...)."""
        return self._dev.name

    @property
    def backend(self):
        """The device's name when one was given (None: the default of :func:`pydl.set_backend`); setting it
        is ``to(value)``."""
        return None if self._device is None else self._device.name

    @backend.setter
    def backend(self, value):
        if value is None:
            if not self._dev.same_memory(_backends.get()):
                raise ValueError(f"Network: its arrays are on {self.device!r}; move them with .to(...)")
            self._device = None
        else:
            self.to(value)

    @property
    def _dev(self):
        return self._device if self._device is not None else _backends.get()

    def to(self, device):
        """Move the network onto ``device`` (a name or a Backend): parameters, gradients, layer buffers and
        optimizer state (its values and step count kept); from then on everything computes there. Moving
        between backends of one memory ("cpu", "numpy") copies nothing. Returns the network."""
        dst = _backends.get(device)
        for layer in self.layers:
            layer.to(dst)
        if self.loss is not None:
            self.loss.backend = dst
        if self.optimizer is not None:
            self.optimizer.to(dst)
        self._device = dst
        return self

    def _host_data(self, a, fn, what):
        """NumPy data from ``a``: an array of the network's device is read back; one of another raises."""
        if isinstance(a, np.ndarray):
            return a
        owner = _backends.owner(a)
        if owner is None:
            return a
        if not owner.same_memory(self._dev):
            raise TypeError(f"{fn}: {what} is an array of device {owner.name!r}, but the network is on "
                            f"{self.device!r}; pass NumPy data or move the network first with net.to({owner.name!r})")
        return owner.to_numpy(a, copy=False)

    def _on_device(self, a):
        """NumPy ``a`` (checked) as an array of the network's device: itself on host backends."""
        dev = self._dev
        return a if dev.host else dev.from_numpy(a)

    def _to_numpy(self, a):
        """A device array as NumPy: itself on host backends (already a fresh or reused array), else a copy."""
        dev = self._dev
        return a if dev.host else dev.to_numpy(a)

    # ---- structure -------------------------------------------------------------------------------
    def parameters(self):
        """All Parameters, layer by layer (for PyTorch-style optimizers)."""
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self):
        """(``"layer{i}.{name}"``, Parameter) pairs, the names used by save/load and gradcheck."""
        return [(f"layer{i}.{p.name}", p) for i, layer in enumerate(self.layers) for p in layer.parameters()]

    def num_params(self):
        return sum(layer.num_params() for layer in self.layers)

    def named_buffers(self):
        """(``"layer{i}.{name}"``, array) pairs of the layers' persistent buffers (BatchNorm's running
        statistics): saved and loaded with the network, never trained."""
        return [(f"layer{i}.{name}", a) for i, layer in enumerate(self.layers) for name, a in layer.buffers.items()]

    @property
    def _random(self):
        """True when a layer draws random numbers in training (Dropout): each training step then takes a seed."""
        return any(layer.uses_seed for layer in self.layers)

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
        if input_shape is not None:
            shape = _checked_shape("summary: input_shape", input_shape)
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
        """(x checked, cast and on the device, per-sample output shape)."""
        x = self._host_data(x, fn, "x")
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
        with np.errstate(over="ignore", invalid="ignore"):  # values beyond the dtype are refused just below
            x = np.ascontiguousarray(x, dtype=self.dtype)
        if not np.isfinite(x).all():
            raise ValueError(f"{fn}: x contains NaN or infinity")
        self._last_input_shape = x.shape[1:]
        return self._on_device(x), out_shape

    def _target(self, y, n, out_shape, fn):
        """The target prepared for the loss kernel (on the device), and its class labels for accuracy (NumPy)."""
        y = self._host_data(y, fn, "y")
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
        return self._on_device(t), self.loss.target_labels(t)

    def _require(self, fn, optimizer=True):
        if self.loss is None:
            raise RuntimeError(f"{fn}: no loss; pass loss= to Network or call compile(loss=...)")
        if optimizer and self.optimizer is None:
            raise RuntimeError(f"{fn}: no optimizer; pass optimizer= to Network or call compile(optimizer=...)")

    # ---- computation -----------------------------------------------------------------------------
    def _forward(self, x, seed=None):
        """The layers' forward; in training, the random layers get ``seed`` (None: one drawn from the
        network's generator) plus their index, as the plan's steps do."""
        seeded = self.training and self._random
        if seeded:
            if seed is None:
                seed = int(_training.draw_seeds(self._rng, 1)[0])
            for i, layer in enumerate(self.layers):
                if layer.uses_seed:
                    layer._seed = (int(seed) + i) % 2**63
        try:
            for layer in self.layers:
                x = layer.forward(x)
        finally:
            if seeded:
                for layer in self.layers:
                    layer._seed = None
        return x

    def _backward(self, dy, need_dx=False):
        for layer, nd in zip(reversed(self.layers), reversed(self._need_dx)):
            dy = layer.backward(dy, need_dx=nd or need_dx)
            if dy is None:
                break
        return dy

    def _train_step(self, x, t, seed=None):
        out = self._forward(x, seed)
        loss = self.loss(out, t)
        self._backward(self.loss.backward())
        self.optimizer.step()
        return loss, out

    def forward(self, x):
        """The network output for ``x`` (a fresh array); keeps the caches ``backward`` needs."""
        x, _ = self._input(x, "forward")
        return self._dev.to_numpy(self._forward(x))

    def backward(self, dy=None):
        """Back-propagate ``dy`` (default: the gradient of the last loss call) through all layers,
        leaving the parameter gradients in each layer's ``grads``; returns d/dx of the input."""
        if dy is None:
            if self.loss is None:
                raise RuntimeError("backward: no dy given and no loss to take it from")
            dy = self.loss.backward()
        else:
            dy = self._on_device(np.ascontiguousarray(self._host_data(dy, "backward", "dy"), dtype=self.dtype))
        return self._to_numpy(self._backward(dy, need_dx=True))

    def train_step(self, x, y):
        """One forward/backward/update on the batch (x, y); returns the data loss before the update. A step
        that would make the loss or a parameter non-finite is undone and raises
        :class:`pydl.training.DivergenceError` (a ValueError)."""
        self._require("train_step")
        x, out_shape = self._input(x, "train_step")
        t, _ = self._target(y, x.shape[0], out_shape, "train_step")
        return _training.guarded_step(self, x, t, "train_step: training diverged")[0]

    def _eval_batch(self, n, batch_size, fn):
        """Rows per inference batch: the caller's (``"full"``: all), else as many as memory comfortably
        allows, so evaluation never crawls in training-size batches."""
        if batch_size is None:
            return _training.eval_batch_size(self, n)
        return _training.batch_size_for(batch_size, n, fn)

    def _infer(self, x, batch_size, fn):
        """Output for x in eval mode, batch by batch, as one fresh array."""
        x, out_shape = self._input(x, fn)
        bs = self._eval_batch(x.shape[0], batch_size, fn)
        was_training = self.training
        self.eval()
        try:
            dev = self._dev
            if bs >= x.shape[0]:
                out = dev.to_numpy(self._forward(x))
            else:
                out = np.empty((x.shape[0],) + out_shape, dtype=self.dtype)
                for s in range(0, x.shape[0], bs):
                    out[s:s + bs] = dev.to_numpy(self._forward(dev.rows(x, s, s + bs)), copy=False)
        finally:
            self.train(was_training)
        if not np.isfinite(out).all():
            raise self._overflow(fn, "the network output")
        return out

    def _overflow(self, fn, what):
        return ValueError(f"{fn}: {what} overflowed to inf/NaN although the inputs are finite: the inputs or the "
                          f"weights are too large for {self.dtype.name} (scale the inputs, or train with a smaller "
                          f"learning rate)")

    def __call__(self, x):
        """The forward output for ``x``, as calling a PyTorch module gives (training mode keeps the caches
        ``backward`` needs; ``predict_proba`` is the eval-mode, batched equivalent)."""
        return self.forward(x)

    def predict_proba(self, x, batch_size=None):
        """Probabilities: the output through the loss's link (sigmoid for logits losses, softmax for
        cross-entropy), the raw output for BCE/MSE. ``batch_size`` None: large batches."""
        out = self._infer(x, batch_size, "predict_proba")
        if self.loss is None:
            return out
        return self._to_numpy(self.loss.probabilities(self._on_device(out), _backends.resolve(self._device)))

    def predict(self, x, batch_size=None):
        """Class labels (N,): threshold 0.5 on a single probability output, arg-max across classes
        (scikit-learn's convention; ``predict_proba`` gives the probabilities)."""
        out = self._infer(x, batch_size, "predict")
        return to_labels(out) if self.loss is None else self.loss.labels(out)

    def regularization(self):
        """λ·Σ‖W‖² over the weights (0 when l2 = 0)."""
        if not self.l2:
            return 0.0
        k, dev = _backends.resolve(self._device), self._dev
        total = 0.0
        for p in self.parameters():
            if p.regularizable:
                v = dev.reshape(p.data, (1, -1))
                total += float(dev.to_numpy(k.matmul(v, v, trans_b=True), copy=False)[0, 0])
        return self.l2 * total

    def _evaluate(self, x, t, labels, batch_size):
        n, dev = x.shape[0], self._dev
        bs = self._eval_batch(n, batch_size, "evaluate")
        was_training = self.training
        self.eval()
        try:
            loss_sum, correct = 0.0, 0
            for s in range(0, n, bs):
                out = self._forward(dev.rows(x, s, s + bs))
                loss_sum += self.loss(out, dev.rows(t, s, s + bs)) * out.shape[0]
                correct += self.loss.count_correct(out, labels[s:s + bs])
        finally:
            self.train(was_training)
        return self._scores(loss_sum, correct, n)

    def _scores(self, loss_sum, correct, n):
        """evaluate's result from the summed batch losses and correct counts over ``n`` samples."""
        loss = loss_sum / n
        cost = loss + self.regularization()
        if not np.isfinite(cost):
            raise self._overflow("evaluate", "the loss" if not np.isfinite(loss) else "the L2 term")
        return {"loss": loss, "accuracy": correct / n, "cost": cost}

    def evaluate(self, x, y=None, batch_size=None):
        """{"loss": mean data loss, "accuracy": ..., "cost": loss + L2 term} on (x, y), in eval mode.
        ``batch_size`` None: large batches (the result does not depend on it beyond rounding). ``x`` may be
        a :class:`pydl.data.DataLoader` (``y`` None): its batches of epoch 0, in its order."""
        self._require("evaluate", optimizer=False)
        if _is_loader(x):
            from ._fit_data import evaluate_loader
            return evaluate_loader(self, x, y, "evaluate")
        x, out_shape = self._input(x, "evaluate")
        t, labels = self._target(y, x.shape[0], out_shape, "evaluate")
        return self._evaluate(x, t, labels, batch_size)

    # ---- training --------------------------------------------------------------------------------
    def fit(self, x, y=None, epochs=1, batch_size=None, shuffle=True, validation_data=None, validation_split=0.0,
            verbose=None, callbacks=None, seed=None, augment=None):
        """Train for ``epochs`` passes over (x, y) in batches of ``batch_size`` and return a :class:`History`.

        - ``batch_size``: None trains in batches of 32 (Keras' default); ``"full"`` in one batch of all
          samples (full-batch gradient descent, as reports 000/004 do); an integer that many (the last
          batch of an epoch may be smaller).
        - ``shuffle`` reshuffles every epoch (skipped for full batches, where order is irrelevant), with
          ``np.random.default_rng(seed)`` or, without a seed, the network's generator.
        - ``validation_data=(x_val, y_val)`` or the last ``validation_split`` fraction of x (Keras style,
          taken before shuffling) is evaluated after each epoch, in eval mode and large batches.
        - ``verbose``: 0 nothing; None or 1 a Keras-style progress bar on a terminal or notebook and one
          line per epoch elsewhere (pipes, logs: no carriage-return frames); 2 one line per epoch.
          Progress goes to stderr. It never changes what is trained.
        - ``callbacks``: Callback objects (LR schedules, EarlyStopping, ModelCheckpoint, ...; see
          :mod:`pydl.callbacks`) or functions ``fn(epoch, logs)`` run at the end of each epoch.
        - ``x`` may be a :class:`pydl.data.DataLoader` (``y`` None): its batches, order and transforms are
          trained (its batch size, shuffling and seed apply; ``validation_data`` may be a loader too).
          ``augment=`` (pydl.data transforms) builds one from (x, y), which may stay uint8, with
          ``batch_size``, ``shuffle`` and a seed from ``seed``; validation data then gets its
          non-random transforms (Normalize). Each batch is one step of the training plan.
        """
        self._require("fit")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or not 0 <= epochs <= _MAX_EPOCHS:
            raise ValueError(f"fit: epochs must be an integer in [0, {_MAX_EPOCHS}], got {epochs!r}")
        _training.batch_size_for(batch_size, 1, "fit")
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: validation_split must lie in [0, 1), got {validation_split}")
        if verbose not in (None, 0, 1, 2) or isinstance(verbose, bool):
            raise ValueError(f"fit: verbose must be None, 0, 1 or 2, got {verbose!r}")
        if augment is not None or _is_loader(x):
            from ._fit_data import fit_loader
            return fit_loader(self, x, y, epochs, batch_size, shuffle, validation_data, validation_split, verbose,
                              callbacks, seed, augment)
        x, out_shape = self._input(x, "fit")
        t, labels = self._target(y, x.shape[0], out_shape, "fit")
        val = None
        if validation_data is not None:
            if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
                raise ValueError("fit: validation_data must be a pair (x_val, y_val)")
            xv, vshape = self._input(validation_data[0], "fit: validation_data")
            val = (xv,) + self._target(validation_data[1], xv.shape[0], vshape, "fit: validation_data")
            self._last_input_shape = x.shape[1:]
        elif validation_split:
            n_val = int(x.shape[0] * validation_split)
            if n_val < 1 or n_val >= x.shape[0]:
                raise ValueError(f"fit: validation_split={validation_split} of {x.shape[0]} samples leaves an "
                                 f"empty training or validation set")
            cut, n, dev = x.shape[0] - n_val, x.shape[0], self._dev
            val = (dev.rows(x, cut, n), dev.rows(t, cut, n), labels[cut:])
            x, t, labels = dev.rows(x, 0, cut), dev.rows(t, 0, cut), labels[:cut]
        callbacks = callback_list(callbacks, self, "fit")
        rng = self._rng if seed is None else _random.spawn(_random.check_seed("fit", seed))
        return _training.fit(self, x, t, labels, epochs, batch_size, shuffle, val, verbose, callbacks, rng)

    # ---- persistence -----------------------------------------------------------------------------
    def save(self, path, include_optimizer=False):
        """Architecture (JSON) and weights in one .npz, written atomically; read back with pydl.load.
        ``include_optimizer=True`` also keeps the optimizer state, its step count and the network's random
        generator (shuffling), so ``fit`` after loading continues exactly as it would have."""
        from .serialization import save

        save(self, path, include_optimizer=bool(include_optimizer))

    def copy(self, dtype=None):
        """An independent network with the same layers, weights, loss, l2 and device (optimizer state not
        copied)."""
        from .serialization import from_arrays, to_arrays

        return from_arrays(to_arrays(self), dtype=dtype, device=self._device)


def _is_loader(x):
    return type(x).__module__.startswith("pydl.") and hasattr(x, "_epoch") and hasattr(x, "sample_shape")


def _device_argument(device, backend):
    """The Backend of ``Network(device=..., backend=...)`` (None: the default); the two must agree."""
    if device is not None and backend is not None and _backends.get(device) is not _backends.get(backend):
        raise ValueError(f"Network: device={device!r} and backend={backend!r} name different backends; pass one")
    choice = device if device is not None else backend
    return None if choice is None else _backends.get(choice)


Sequential = Network
