"""Training: the loop behind :meth:`Network.fit`, its batch-size rules, and :class:`History`.

Every epoch is trained the same way whatever is shown: the training plan (whole epochs in C++ over the
layers' kernels, see :mod:`pydl.plan`) when the network has one and nothing but learning-rate schedules
needs Python between batches, else the layers' Python forward/backward. Both make the same optimizer
steps on the same shuffled batches, so the path, the verbosity and where output goes never change the
trained weights.
"""
import math
import time

import numpy as np

from .callbacks import Callback
from .optim import LRScheduler
from .plan import TrainingPlan
from .progress import Progress

__all__ = ["History", "DivergenceError", "FULL_BATCH", "DEFAULT_BATCH_SIZE", "batch_size_for", "draw_seeds", "fit"]

FULL_BATCH = "full"
DEFAULT_BATCH_SIZE = 32  # Keras' default
_EVAL_ELEMENTS = 1 << 22  # the widest activation of one evaluation batch, in elements (32 MB in float64)
_CHUNK_SECONDS = 0.05  # plan epochs run in chunks this long, so progress shows without a call per epoch
_CHUNK_MAX_INDICES = 1 << 23  # and the chunk's shuffled indices (or per-step rates) stay under 64 MB
_PART_SECONDS, _PARTS = 2.0, 20  # a plan epoch longer than this runs in this many parts, to show progress


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
            from matplotlib.ticker import MaxNLocator
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
            ax.plot(epochs, self.history[key], label=f"train {key} (running mean over the epoch)")
            if "val_" + key in self.history:
                ax.plot(epochs, self.history["val_" + key], label=f"validation {key} (after the epoch)")
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(key)
            ax.legend()
        fig.tight_layout()
        if path is None:
            plt.show()
        else:
            fig.savefig(path)
        return fig


def draw_seeds(rng, count):
    """The seeds of ``count`` training steps of a network with random layers (Dropout): int64 in
    [0, 2**63). Every path draws an epoch's seeds right after its permutation, so plan chunks, parts and
    Python epochs consume the generator alike."""
    return rng.integers(0, 2**63, size=count, dtype=np.int64)


def _epoch_draws(net, rng, n, batches, shuffle):
    """(permutation or None, step seeds or None) of one epoch, in the order every path draws them."""
    perm = rng.permutation(n) if shuffle else None
    return perm, draw_seeds(rng, batches) if net._random else None


def batch_size_for(batch_size, n, fn):
    """The number of samples per batch: ``None`` is Keras' 32, ``"full"`` all ``n``, an integer >= 1 itself
    (at most ``n``)."""
    if batch_size is None:
        return min(DEFAULT_BATCH_SIZE, n)
    if isinstance(batch_size, str) and batch_size == FULL_BATCH:
        return n
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{fn}: batch_size must be a positive integer, None (32) or \"full\", got {batch_size!r}")
    return int(min(batch_size, n))


def eval_batch_size(net, n):
    """Rows per batch for inference: as many as keep the widest activation under ``_EVAL_ELEMENTS``."""
    shape = net._last_input_shape
    widest = int(np.prod(shape))
    for layer in net.layers:
        shape = layer.output_shape(shape)
        widest = max(widest, int(np.prod(shape)))
    return int(max(1, min(n, _EVAL_ELEMENTS // max(widest, 1))))


class DivergenceError(ValueError):
    """Training made the loss or a parameter non-finite (as Keras' TerminateOnNaN would stop it).

    ``epoch`` and ``batch`` (0-based; None for ``train_step``) locate the step; the network keeps the
    weights and optimizer state of the last step that stayed finite.
    """

    def __init__(self, message, epoch, batch):
        super().__init__(message)
        self.epoch, self.batch = epoch, batch


class _Snapshot:
    """Parameters, optimizer state and step count, the shuffling generator and the schedules' counters:
    everything a chunk of training changes, so it can be put back."""

    def __init__(self, net, rng, callbacks, loader=None):
        opt, dev = net.optimizer, net._dev
        self.net, self.rng, self.callbacks = net, rng, callbacks
        self.loader, self.loader_epoch = loader, None if loader is None else loader.epoch
        self.params = [dev.copy(p.data) for p in net.parameters()]
        self.buffers = [dev.copy(a) for _, a in net.named_buffers()]
        self.state = None if opt._state is None else [{k: dev.copy(v) for k, v in s.items()} for s in opt._state]
        self.steps, self.lr = opt.steps, opt.lr
        self.rng_state = None if rng is None else rng.bit_generator.state
        self.schedules = [(cb, cb.t) for cb in callbacks if hasattr(cb, "t") and hasattr(cb, "lr_at")]

    def restore(self):
        opt, dev = self.net.optimizer, self.net._dev
        for p, saved in zip(self.net.parameters(), self.params):
            dev.copy_(p.data, saved)
        for (_, live), saved in zip(self.net.named_buffers(), self.buffers):
            dev.copy_(live, saved)
        if self.state is None:
            opt._state = None
        else:
            for live, saved in zip(opt._state, self.state):
                for k, v in saved.items():
                    dev.copy_(live[k], v)
        opt.steps, opt.lr = self.steps, self.lr
        if self.rng is not None:
            self.rng.bit_generator.state = self.rng_state
        for cb, t in self.schedules:
            cb.t = t
        if self.loader is not None:  # its epoch counter picks the order and the random transforms
            self.loader.epoch = self.loader_epoch


def _check_batches(net, rows):
    """Let layers that need batch statistics (BatchNorm) refuse the smallest training batch, before training."""
    shape = tuple(net._last_input_shape)
    for layer in net.layers:
        if hasattr(layer, "check_batch"):
            try:
                layer.check_batch(rows, shape)
            except ValueError as e:
                raise ValueError(f"fit: {e}") from None
        shape = tuple(layer.output_shape(shape))


def _non_finite_parameter(net):
    """The name of a parameter holding NaN/inf, "the L2 term" when only λ·Σ‖W‖² overflows, else None."""
    for name, p in net.named_parameters():
        if not net._dev.all_finite(p.data):
            return name
    if net.l2 and not np.isfinite(net.regularization()):
        return "the L2 term"
    return None


def _note(error, text):
    if hasattr(error, "add_note"):
        error.add_note(text)


def fit(net, x, t, labels, epochs, batch_size, shuffle, val, verbose, callbacks, rng, loader=None):
    """Train ``net`` on prepared data (see :meth:`Network.fit`, which validates it) and return a History.
    With a :class:`pydl.data.DataLoader`, its batches (of rows whose prepared targets are ``t`` and
    ``labels``) are trained one plan call each (``x``, ``batch_size``, ``shuffle``, ``rng`` unused).

    Each chunk of epochs is checked once: a non-finite loss or parameter (or a kernel refusing NaN) puts
    the chunk's starting state back and replays it step by step to find the step that diverged, which
    raises :class:`DivergenceError` with the weights of the last finite step. Any other exception
    restores the network to its state before this call; Ctrl-C keeps the epochs finished so far.
    """
    n = loader.n if loader is not None else x.shape[0]
    bs = loader.batch_size if loader is not None else batch_size_for(batch_size, n, "fit")
    _check_batches(net, bs if loader is not None and loader.drop_last else min(bs, n % bs or bs))
    shuffle = shuffle and bs < n
    batch_hooks = [cb for cb in callbacks if type(cb).on_batch_end is not Callback.on_batch_end]
    # Schedules stepped every batch run inside the plan as per-step rates; any other batch hook needs Python.
    plan_hooks = [cb for cb in batch_hooks if isinstance(cb, LRScheduler)
                  and type(cb).on_batch_end is LRScheduler.on_batch_end]
    schedules = [cb for cb in plan_hooks if cb.per_batch]
    python_hooks = [cb for cb in batch_hooks if cb not in plan_hooks]
    plan = TrainingPlan.for_network(net) if net.native and not python_hooks else None
    history = History()
    progress = Progress(epochs, n, verbose)
    net.train()
    net.stop_training = False
    before = _Snapshot(net, rng, callbacks, loader)
    for cb in callbacks:
        cb.on_train_begin(net)
    # Without anything to run between epochs, plan epochs go in chunks: one call for many small epochs.
    chunked = plan is not None and not (callbacks or val is not None or net.l2) and loader is None
    if loader is not None:
        trainer = _LoaderEpochs(net, plan, loader, t, labels, schedules, () if plan else batch_hooks,
                                progress, rng)
    elif plan is not None:
        trainer = _PlanEpochs(plan, x, t, labels, bs, shuffle, rng, schedules, progress)
    else:
        trainer = _PythonEpochs(net, x, t, labels, bs, shuffle, rng, batch_hooks, progress)
    epoch, chunk_start = 0, before
    try:
        while epoch < epochs:
            count = trainer.next_chunk(epochs - epoch) if chunked else 1
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            progress.epoch_begin(epoch)
            chunk_start = _Snapshot(net, rng, callbacks, loader) if epoch else before
            t0 = time.perf_counter()
            try:
                results = trainer.run(count)
                diverged = not all(math.isfinite(r["loss"]) for r in results) or _non_finite_parameter(net)
            except ValueError as error:  # a kernel refusing NaN/inf that training produced
                diverged, cause = True, error
            else:
                cause = None
            if diverged:
                chunk_start.restore()
                try:
                    results = _replay(net, x, t, labels, bs, shuffle, rng, epoch, count, batch_hooks) \
                        if loader is None else _replay_loader(net, loader, t, labels, epoch, batch_hooks, rng)
                except DivergenceError as error:
                    raise error from cause
                if cause is not None:  # the replay did not diverge: the kernel's complaint was something else
                    raise cause
            seconds = (time.perf_counter() - t0) / count
            for logs in results:
                logs["cost"] = logs["loss"] + net.regularization()
                if val is not None:
                    t_val = time.perf_counter()
                    scores = evaluate_loader(net, val[0], *val[1:]) if len(val) == 3 and hasattr(val[0], "_epoch") \
                        else net._evaluate(*val, None)
                    logs.update({"val_" + k: v for k, v in scores.items()})
                    seconds += time.perf_counter() - t_val
                logs["lr"] = net.optimizer.lr
                logs["time"] = seconds
                history.append(epoch, logs)
                for cb in callbacks:
                    cb.on_epoch_end(epoch, logs)
                progress.epoch_end(epoch, logs, seconds)
                epoch += 1
            if net.stop_training:
                break
    except DivergenceError:
        raise
    except KeyboardInterrupt as error:
        chunk_start.restore()
        _note(error, f"pydl: fit interrupted; the network keeps the {epoch} epoch(s) finished before it")
        raise
    except Exception as error:
        before.restore()
        _note(error, "pydl: fit failed; the network, its optimizer state and its generator are as before this call")
        raise
    finally:
        progress.close()
    for cb in callbacks:
        cb.on_train_end(history)
    return history


_KEPT = ("the network keeps the weights and optimizer state of the last finite step; try a smaller learning rate "
         "(or inputs of a smaller scale)")


def guarded_step(net, x, t, where, epoch=None, batch=None, seed=None):
    """One training step on a prepared batch that never leaves non-finite values behind: the loss is checked
    before the update and the parameters after it; on failure the step is undone and DivergenceError
    (``where`` leading its message) raised. ``seed``: the step's seed for random layers (None: drawn).
    Returns (loss, output)."""
    dev = net._dev
    buffers = [(a, dev.copy(a)) for _, a in net.named_buffers()]  # the forward moves running statistics

    def diverged(text):
        for live, saved in buffers:
            dev.copy_(live, saved)
        return DivergenceError(f"{where}: {text}; {_KEPT}", epoch, batch)

    try:
        out = net._forward(x, seed)
        loss = net.loss(out, t)
    except ValueError as error:  # a kernel refusing an activation that overflowed to NaN
        raise diverged(str(error)) from None
    if not math.isfinite(loss):
        raise diverged(f"the loss is {loss}")
    net._backward(net.loss.backward())
    undo = _Snapshot(net, None, [])
    try:
        net.optimizer.step()
        bad = _non_finite_parameter(net)
    except ValueError as error:  # an optimizer kernel refusing a NaN gradient, maybe after updating others
        bad = str(error)
    if bad is not None:
        undo.restore()
        raise DivergenceError(f"{where}: the update made {bad} non-finite; {_KEPT}", epoch, batch)
    return loss, out


def _replay(net, x, t, labels, bs, shuffle, rng, first_epoch, count, batch_hooks):
    """Train ``count`` epochs step by step with :func:`guarded_step`, which raises DivergenceError at the
    first non-finite value with the last finite step kept."""
    n, dev = x.shape[0], net._dev
    batches = -(-n // bs)
    results = []
    for epoch in range(first_epoch, first_epoch + count):
        order, seeds = _epoch_draws(net, rng, n, batches, shuffle)
        order = np.arange(n) if order is None else order
        loss_sum, correct = 0.0, 0
        for b, s in enumerate(range(0, n, bs)):
            rows = order[s:s + bs]
            where = f"fit: training diverged at epoch {epoch + 1}, batch {b + 1} of {batches}"
            on_device = dev.from_numpy(rows)
            loss, out = guarded_step(net, dev.gather_rows(x, on_device), dev.gather_rows(t, on_device), where, epoch, b,
                                     None if seeds is None else seeds[b])
            loss_sum += loss * out.shape[0]
            correct += net.loss.count_correct(out, labels[rows])
            for cb in batch_hooks:
                cb.on_batch_end(b, loss)
        results.append({"loss": loss_sum / n, "accuracy": correct / n})
    return results


def step_rates(opt, schedules, steps):
    """The learning rate of each of the next ``steps`` steps, stepping the schedules as the batches would."""
    if not schedules:
        return None
    lrs = np.empty(steps)
    for k in range(steps):
        lrs[k] = opt.lr
        for cb in schedules:
            cb.step()
    return lrs


class _PlanEpochs:
    """Epochs through the training plan; ``run(k)`` trains k epochs in one call. An epoch that took longer
    than ``_PART_SECONDS`` is trained in parts of whole batches next time, so progress shows within it.
    Per-batch schedules are stepped here, ahead of the call, into the rate of each of its steps."""

    def __init__(self, plan, x, t, labels, bs, shuffle, rng, schedules, progress):
        dev = plan.net._dev
        # Class labels go to a GPU once per fit, not with every call (host devices read them in place).
        labels = labels if dev.host else dev.from_numpy(labels)
        self.plan, self.x, self.t, self.labels, self.bs = plan, x, t, labels, bs
        self.shuffle, self.rng, self.schedules, self.progress = shuffle, rng, schedules, progress
        self.kernels = plan.net.layers[0].kernels
        self.chunk = 1
        self.batches = -(-x.shape[0] // bs)
        self.max_chunk = max(1, _CHUNK_MAX_INDICES // max(x.shape[0] if shuffle else 1, self.batches))
        self.parts = 1

    def next_chunk(self, left):
        return max(1, min(self.chunk, left, self.max_chunk))

    def _rates(self, steps):
        return step_rates(self.plan.net.optimizer, self.schedules, steps)

    def run(self, count):
        n, net = self.x.shape[0], self.plan.net
        t0 = time.perf_counter()
        draws = [_epoch_draws(net, self.rng, n, self.batches, self.shuffle) for _ in range(count)]
        perms = np.stack([d[0] for d in draws]) if self.shuffle else None
        seeds = np.concatenate([d[1] for d in draws]) if net._random else None
        if count == 1 and self.parts > 1:
            results = self._run_in_parts(None if perms is None else perms[0], seeds)
        else:
            losses, accuracies = self.plan.run(self.x, self.t, self.labels, count, perms, self.bs,
                                               self._rates(count * self.batches), seeds)
            results = list(zip(losses, accuracies))
        seconds = time.perf_counter() - t0
        if seconds < _CHUNK_SECONDS:
            self.chunk *= 2
        if count == 1 and seconds > _PART_SECONDS and net._dev.host:  # parts slice host arrays
            self.parts = min(_PARTS, self.batches)
        # Fewer results than epochs: a step diverged; a non-finite loss makes fit restore and replay.
        results += [(math.nan, math.nan)] * (count - len(results))
        return [{"loss": loss, "accuracy": accuracy} for loss, accuracy in results]

    def _run_in_parts(self, perm, seeds):
        """One epoch as consecutive plan calls on whole batches (the same steps as one call), gathering
        each part's shuffled rows first; returns [(mean loss, accuracy)] over the epoch, or [] when a step
        diverged."""
        n, bs, k = self.x.shape[0], self.bs, self.kernels
        rows = -(-n // (self.parts * bs)) * bs
        loss_sum = correct = 0.0
        for a in range(0, n, rows):
            b = min(a + rows, n)
            if perm is None:
                xp, tp, lp = self.x[a:b], self.t[a:b], self.labels[a:b]
            else:
                index = perm[a:b]
                xp, tp, lp = k.gather_rows(self.x, index), k.gather_rows(self.t, index), \
                    k.gather_rows(self.labels, index)
            part_seeds = None if seeds is None else seeds[a // bs:-(-b // bs)]
            losses, accuracies = self.plan.run(xp, tp, lp, 1, None, bs, self._rates(-(-(b - a) // bs)), part_seeds)
            if not losses:
                return []
            loss_sum += losses[0] * (b - a)
            correct += accuracies[0] * (b - a)
            self.progress.update(b, {"loss": loss_sum / b, "accuracy": correct / b})
        return [(loss_sum / n, correct / n)]


class _PythonEpochs:
    """Epochs through the layers' Python forward/backward, batch by batch."""

    def __init__(self, net, x, t, labels, bs, shuffle, rng, batch_hooks, progress):
        self.net, self.x, self.t, self.labels = net, x, t, labels
        self.bs, self.shuffle, self.rng, self.batch_hooks, self.progress = bs, shuffle, rng, batch_hooks, progress
        self.dev = dev = net._dev
        if shuffle:
            self.xs, self.ts = dev.empty(x.shape, x.dtype), dev.empty(t.shape, t.dtype)
            self.ls = np.empty_like(labels)  # class labels for the accuracy count stay NumPy
        else:
            self.xs, self.ts, self.ls = x, t, labels

    def next_chunk(self, left):
        return 1

    def run(self, count):
        net, n, bs = self.net, self.x.shape[0], self.bs
        dev = self.dev
        perm, seeds = _epoch_draws(net, self.rng, n, -(-n // bs), self.shuffle)
        if self.shuffle:
            on_device = dev.from_numpy(perm)
            dev.gather_rows(self.x, on_device, out=self.xs)
            dev.gather_rows(self.t, on_device, out=self.ts)
            np.take(self.labels, perm, axis=0, out=self.ls)
        loss_sum, correct = 0.0, 0
        for b, s in enumerate(range(0, n, bs)):
            e = min(s + bs, n)
            loss, out = net._train_step(dev.rows(self.xs, s, e), dev.rows(self.ts, s, e), None if seeds is None else seeds[b])
            loss_sum += loss * out.shape[0]
            correct += net.loss.count_correct(out, self.ls[s:e])
            for cb in self.batch_hooks:
                cb.on_batch_end(b, loss)
            done = min(s + bs, n)
            self.progress.update(done, {"loss": loss_sum / done, "accuracy": correct / done})
        return [{"loss": loss_sum / n, "accuracy": correct / n}]


def evaluate_loader(net, loader, t, labels):
    """{"loss", "accuracy", "cost"} over a DataLoader's batches (in order of its epoch 0, in eval mode),
    ``t``/``labels`` the prepared targets of its rows: as :meth:`Network._evaluate` on the same samples."""
    dev = net._dev
    was_training = net.training
    net.eval()
    try:
        loss_sum, correct, seen = 0.0, 0, 0
        for xb, rows in loader._epoch(0, net.dtype, True):
            out = net._forward(net._on_device(xb))
            loss_sum += net.loss(out, dev.gather_rows(t, dev.from_numpy(rows))) * out.shape[0]
            correct += net.loss.count_correct(out, labels[rows])
            seen += out.shape[0]
    finally:
        net.train(was_training)
    return net._scores(loss_sum, correct, seen)


def _loader_seeds(net, rng, loader):
    """The step seeds of one loader epoch for random layers (None without them), from fit's generator: the
    loader's own generator orders and augments."""
    return draw_seeds(rng, len(loader)) if net._random else None


def _replay_loader(net, loader, t, labels, epoch, batch_hooks, rng):
    """The loader's ``epoch`` again, step by step with :func:`guarded_step` (see :func:`_replay`)."""
    dev = net._dev
    loader.epoch = epoch + 1
    seeds = _loader_seeds(net, rng, loader)
    loss_sum, correct, seen = 0.0, 0, 0
    for b, (xb, rows) in enumerate(loader._epoch(epoch, net.dtype, True)):
        where = f"fit: training diverged at epoch {epoch + 1}, batch {b + 1} of {len(loader)}"
        loss, out = guarded_step(net, net._on_device(xb), dev.gather_rows(t, dev.from_numpy(rows)), where, epoch, b,
                                 None if seeds is None else seeds[b])
        loss_sum += loss * out.shape[0]
        correct += net.loss.count_correct(out, labels[rows])
        seen += out.shape[0]
        for cb in batch_hooks:
            cb.on_batch_end(b, loss)
    return [{"loss": loss_sum / seen, "accuracy": correct / seen}]


class _LoaderEpochs:
    """Epochs over a DataLoader's batches (shuffled, augmented, normalized by the loader): each batch is one
    plan call (an epoch of one batch, so the same kernels and optimizer steps as a whole-epoch call), or
    the layers' Python forward/backward without a plan."""

    def __init__(self, net, plan, loader, t, labels, schedules, batch_hooks, progress, rng):
        self.net, self.plan, self.loader, self.t, self.labels = net, plan, loader, t, labels
        self.schedules, self.batch_hooks, self.progress, self.rng = schedules, batch_hooks, progress, rng

    def next_chunk(self, left):
        return 1

    def run(self, count):
        net, dev, loader = self.net, self.net._dev, self.loader
        epoch = loader.epoch
        loader.epoch += 1
        seeds = _loader_seeds(net, self.rng, loader)
        loss_sum, correct, seen = 0.0, 0, 0
        for b, (xb, rows) in enumerate(loader._epoch(epoch, net.dtype, True)):
            size = len(rows)
            seed = None if seeds is None else seeds[b:b + 1]
            if self.plan is not None:
                losses, accuracies = self.plan.run(xb, dev.gather_rows(self.t, rows), self.labels[rows], 1, None, size,
                                                   step_rates(net.optimizer, self.schedules, 1), seed)
                if not losses:  # a step met NaN: fit restores the epoch's start and replays it
                    return [{"loss": math.nan, "accuracy": math.nan}]
                loss, right = losses[0], round(accuracies[0] * size)
            else:
                loss, out = net._train_step(net._on_device(xb), dev.gather_rows(self.t, dev.from_numpy(rows)),
                                            None if seed is None else seed[0])
                right = net.loss.count_correct(out, self.labels[rows])
            loss_sum += loss * size
            correct += right
            seen += size
            for cb in self.batch_hooks:
                cb.on_batch_end(b, loss)
            self.progress.update(seen, {"loss": loss_sum / seen, "accuracy": correct / seen})
        return [{"loss": loss_sum / seen, "accuracy": correct / seen}]
