"""Hooks the fit loop calls, and Keras' standard callbacks.

Subclass :class:`Callback` and override what you need; set ``self.network.stop_training = True`` in a
hook to end training after the current epoch. ``fit`` also takes a plain function ``fn(epoch, logs)``,
run at the end of every epoch (it becomes ``LambdaCallback(on_epoch_end=fn)``).

The callbacks here have Keras' names, arguments, defaults and semantics: :class:`EarlyStopping`,
:class:`ModelCheckpoint`, :class:`ReduceLROnPlateau`, :class:`CSVLogger` and :class:`LambdaCallback`.
All of them act once per epoch, so none keeps ``fit`` off the training plan (only a hook that overrides
``on_batch_end`` does, learning-rate schedules excepted).

Monitored values come from the epoch's logs (``loss``, ``accuracy``, ``cost``, ``lr``, ``time`` and,
with validation data, ``val_loss``, ``val_accuracy``, ``val_cost``). The default monitor is
``"val_loss"``, as in Keras; where the logs lack the monitored key (no validation data, or a typo),
the callback raises ValueError at the end of the first epoch, naming the keys there are, instead of
Keras' warning: a callback that silently never acts would train every epoch without stopping, saving or
reducing anything, and ``fit`` puts the network back as it was before the call.
"""
import csv
import difflib
import functools
import inspect
import math
import os
import sys
import types

from ._args import check_hyper, check_int

__all__ = ["Callback", "CSVLogger", "EarlyStopping", "LambdaCallback", "ModelCheckpoint", "ReduceLROnPlateau"]

_MAX_COUNT = 10**9  # patience, cooldown, start_from_epoch: more is a typo


class Callback:
    """Base class of fit's hooks. ``self.network`` (Keras' ``self.model``) is the network being trained,
    set by ``fit`` before ``on_train_begin``."""

    network = None

    @property
    def model(self):
        """Keras' name for :attr:`network`."""
        return self.network

    @model.setter
    def model(self, network):
        self.network = network

    def on_train_begin(self, network):
        self.network = network

    def on_epoch_begin(self, epoch):
        pass

    def on_batch_end(self, batch, loss):
        pass

    def on_epoch_end(self, epoch, logs):
        """``logs``: this epoch's History values (loss, accuracy, cost, val_*, time, lr)."""

    def on_train_end(self, history):
        pass


def _is_function(obj):
    return isinstance(obj, (types.FunctionType, types.MethodType, functools.partial))


def callback_list(callbacks, network, where="fit"):
    """The Callback objects ``fit`` runs, each bound to ``network``: ``callbacks`` is None, a Callback, a
    function ``fn(epoch, logs)`` or a list of them; functions become ``LambdaCallback(on_epoch_end=fn)``.
    Anything else raises TypeError naming what is accepted."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback) or callable(callbacks):  # one callback (checked below) without a list
        callbacks = [callbacks]
    elif isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
        raise TypeError(f"{where}: callbacks must be a list of pydl.callbacks.Callback objects or functions "
                        f"fn(epoch, logs), got {type(callbacks).__name__}")
    result = []
    for cb in callbacks:
        if _is_function(cb):
            try:
                inspect.signature(cb).bind(0, {})
            except TypeError as error:
                raise TypeError(f"{where}: the callback function {getattr(cb, '__name__', cb)!r} must take "
                                f"(epoch, logs), as Callback.on_epoch_end does: {error}") from None
            except ValueError:  # no signature to check
                pass
            cb = LambdaCallback(on_epoch_end=cb)
        elif not isinstance(cb, Callback):
            got = f"the class {cb.__name__}; pass an instance, {cb.__name__}(...)" if isinstance(cb, type) \
                else type(cb).__name__
            raise TypeError(f"{where}: callbacks must be pydl.callbacks.Callback objects, got {got}; a Python "
                            f"function fn(epoch, logs) is also accepted and runs at the end of each epoch")
        result.append(cb)
    for cb in result:
        cb.network = network
    return result


def _check_bool(owner, name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be True or False, got {type(value).__name__} {value!r}")
    return value


def _check_str(owner, name, value):
    if not isinstance(value, str) or not value:
        raise TypeError(f"{owner}: {name} must be a non-empty string, got {type(value).__name__} {value!r}")
    return value


def _check_path(owner, name, value):
    try:
        path = os.fspath(value)
    except TypeError:
        path = None
    if not isinstance(path, str) or not path:
        raise TypeError(f"{owner}: {name} must be a file path (str or os.PathLike), got "
                        f"{type(value).__name__} {value!r}")
    return path


def _say(text):
    """A message of a callback with verbose=1, Keras style (on stderr, where fit's progress goes)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _weights(net):
    """Copies of the network's parameters, on its device."""
    return [net._dev.copy(p.data) for p in net.parameters()]


def _set_weights(net, weights):
    for p, saved in zip(net.parameters(), weights):
        net._dev.copy_(p.data, saved)


class _Monitor(Callback):
    """A callback that watches one value of the epoch's logs (``monitor``) for improvement.

    ``mode``: "min" (lower is better), "max", or "auto": "max" where the name contains "acc" (accuracy,
    val_accuracy), else "min" (losses and costs), as Keras decides. An improvement must beat the
    reference by more than ``min_delta``.
    """

    def _set_monitor(self, monitor, mode, min_delta):
        owner = type(self).__name__
        self.monitor = _check_str(owner, "monitor", monitor)
        if not isinstance(mode, str) or mode not in ("auto", "min", "max"):
            raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.mode = ("max" if "acc" in monitor else "min") if mode == "auto" else mode
        self.min_delta = check_hyper(owner, "min_delta", min_delta, minimum=0.0, maximum=None)

    @property
    def _worst(self):
        return math.inf if self.mode == "min" else -math.inf

    def _improves(self, current, reference, min_delta=None):
        delta = self.min_delta if min_delta is None else min_delta
        return current + delta < reference if self.mode == "min" else current - delta > reference

    def _current(self, logs):
        """The monitored value of this epoch; ValueError naming the keys there are when it is missing."""
        if self.monitor in logs:
            return float(logs[self.monitor])
        keys = sorted(logs)
        hint = ""
        if self.monitor.startswith("val_") and not any(k.startswith("val_") for k in keys):
            hint = (f"; {self.monitor!r} needs validation data: pass validation_data=(x_val, y_val) or "
                    f"validation_split to fit, or monitor a training value such as {self.monitor[4:]!r}")
        else:
            close = difflib.get_close_matches(self.monitor, keys, n=1)
            if close:
                hint = f"; did you mean {close[0]!r}?"
        raise ValueError(f"{type(self).__name__}: monitor {self.monitor!r} is not in the epoch's logs "
                         f"(keys: {', '.join(keys)}){hint}")


class EarlyStopping(_Monitor):
    """Stop training when ``monitor`` has stopped improving (Keras' EarlyStopping).

    Each epoch whose value beats the best so far by more than ``min_delta`` (lower is better in mode
    "min", higher in "max"; "auto" picks "max" for names containing "acc") becomes the best epoch and
    resets the wait; after ``patience`` epochs in a row without one, training stops at the end of that
    epoch. With ``baseline``, an improvement resets the wait only when it also beats the baseline, so
    training stops after ``patience`` epochs unless the baseline is beaten (as Keras documents it; Keras
    3's code never stops while the value improves short of the baseline). Epochs before
    ``start_from_epoch`` are not looked at (a warm-up).

    ``restore_best_weights=True`` puts the parameters of the best epoch back when training ends, whether
    it stopped early or ran out of epochs (Keras 3); otherwise the network keeps the last epoch's weights.
    The optimizer state is not restored. After ``fit``: ``stopped_epoch`` (0-based; 0 when it did not
    stop early), ``best``, ``best_epoch`` (0-based), ``wait``. ``verbose=1`` says when it stops and
    restores. A missing monitor (e.g. ``"val_loss"`` without validation data) raises ValueError.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        self._set_monitor(monitor, mode, min_delta)
        self.patience = check_int("EarlyStopping: patience", patience, 0, _MAX_COUNT)
        self.verbose = check_int("EarlyStopping: verbose", verbose, 0, 2)
        self.baseline = None if baseline is None else \
            check_hyper("EarlyStopping", "baseline", baseline, minimum=None, maximum=None)
        self.restore_best_weights = _check_bool("EarlyStopping", "restore_best_weights", restore_best_weights)
        self.start_from_epoch = check_int("EarlyStopping: start_from_epoch", start_from_epoch, 0, _MAX_COUNT)
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = self._worst
        self.best_epoch = 0
        self.best_weights = None

    def on_train_begin(self, network):
        super().on_train_begin(network)
        self._reset()

    def on_epoch_end(self, epoch, logs):
        current = self._current(logs)
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = _weights(self.network), epoch
        self.wait += 1
        if self._improves(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = _weights(self.network)
            if self.baseline is None or self._improves(current, self.baseline):
                self.wait = 0
                return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.network.stop_training = True

    def on_train_end(self, history):
        if self.stopped_epoch > 0 and self.verbose:
            _say(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                _say(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            _set_weights(self.network, self.best_weights)


class ModelCheckpoint(_Monitor):
    """Save the network with ``net.save`` (atomic: a crash never leaves a half-written file) at the end of
    every epoch (Keras' ModelCheckpoint).

    ``filepath`` may hold ``str.format`` fields filled from the epoch's logs and ``epoch`` (1-based, as
    in Keras): ``"ckpt/{epoch:02d}-{val_loss:.3f}.npz"``; missing folders are created. With
    ``save_best_only=True`` a file is written only when ``monitor`` beats the best value seen so far
    (strictly; ``mode`` as in :class:`EarlyStopping`), starting from ``initial_value_threshold`` when
    given; the best carries over between ``fit`` calls, as in Keras. Without it ``monitor`` is unused.
    ``include_optimizer=True`` saves the optimizer state too (``net.save(path, include_optimizer=True)``),
    so training can resume from the file exactly. ``best`` and ``best_epoch`` (0-based) tell the last
    save of the best; ``verbose=1`` reports each save.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, mode="auto",
                 initial_value_threshold=None, include_optimizer=False):
        self.filepath = _check_path("ModelCheckpoint", "filepath", filepath)
        self._set_monitor(monitor, mode, 0.0)
        self.verbose = check_int("ModelCheckpoint: verbose", verbose, 0, 2)
        self.save_best_only = _check_bool("ModelCheckpoint", "save_best_only", save_best_only)
        self.include_optimizer = _check_bool("ModelCheckpoint", "include_optimizer", include_optimizer)
        self.best = self._worst if initial_value_threshold is None else check_hyper(
            "ModelCheckpoint", "initial_value_threshold", initial_value_threshold, minimum=None, maximum=None)
        self.best_epoch = None

    def _path(self, epoch, logs):
        try:
            return self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"ModelCheckpoint: cannot fill filepath {self.filepath!r} from the epoch's logs "
                             f"(keys: epoch, {', '.join(sorted(logs))}): {error!r}") from None

    def on_epoch_end(self, epoch, logs):
        path = self._path(epoch, logs)
        if self.save_best_only:
            current = self._current(logs)
            if not self._improves(current, self.best):
                if self.verbose:
                    _say(f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose:
                _say(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                     f"saving model to {path}")
            self.best, self.best_epoch = current, epoch
        elif self.verbose:
            _say(f"Epoch {epoch + 1}: saving model to {path}")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        self.network.save(path, include_optimizer=self.include_optimizer)


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` when ``monitor`` has stopped improving (Keras'
    ReduceLROnPlateau, with its defaults).

    An epoch improves when its value beats the best by more than ``min_delta``; after ``patience`` epochs
    in a row without improvement the optimizer's ``lr`` becomes ``max(lr * factor, min_lr)`` (never
    below ``min_lr``; nothing happens once lr is there), then ``cooldown`` epochs pass before epochs count
    again. The new rate trains from the next epoch on, so History's ``lr`` shows it from then;
    ``changes`` lists each reduction as ``(epoch, old_lr, new_lr)`` (0-based epoch at whose end it
    happened). Counters reset at the start of every ``fit``. Combined with a learning-rate schedule, the
    schedule sets the rate it computes and overrides the reduction.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        self._set_monitor(monitor, mode, min_delta)
        self.factor = check_hyper("ReduceLROnPlateau", "factor", factor, minimum=0.0, maximum=1.0,
                                  above=True, below=True)
        self.patience = check_int("ReduceLROnPlateau: patience", patience, 0, _MAX_COUNT)
        self.verbose = check_int("ReduceLROnPlateau: verbose", verbose, 0, 2)
        self.cooldown = check_int("ReduceLROnPlateau: cooldown", cooldown, 0, _MAX_COUNT)
        self.min_lr = check_hyper("ReduceLROnPlateau", "min_lr", min_lr, minimum=0.0)
        self.changes = []
        self._reset()

    def _reset(self):
        self.best = self._worst
        self.wait = 0
        self.cooldown_counter = 0

    def on_train_begin(self, network):
        super().on_train_begin(network)
        self._reset()

    def on_epoch_end(self, epoch, logs):
        current = self._current(logs)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improves(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                optimizer = self.network.optimizer
                old = optimizer.lr
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    optimizer.lr = new
                    self.changes.append((epoch, old, new))
                    if self.verbose:
                        _say(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class CSVLogger(Callback):
    """Write the epoch's logs to a CSV file, one row per epoch (Keras' CSVLogger).

    Columns: ``epoch`` (0-based, as Keras writes it) and the logs' keys in sorted order, as the first
    epoch has them (a key missing later is written ``NA``). ``append=False`` starts the file afresh at
    every ``fit``; ``append=True`` adds rows, with the header only when the file is new or empty. Each
    row is written and the file closed at the end of its epoch, so the file is complete whenever
    training stops.
    """

    def __init__(self, filename, separator=",", append=False):
        self.filename = _check_path("CSVLogger", "filename", filename)
        if not isinstance(separator, str) or len(separator) != 1:
            raise TypeError(f"CSVLogger: separator must be a single character, got {separator!r}")
        self.separator = separator
        self.append = _check_bool("CSVLogger", "append", append)
        self.keys = None
        self._header = True

    def on_train_begin(self, network):
        super().on_train_begin(network)
        self.keys = None
        if self.append and os.path.exists(self.filename):
            self._header = os.path.getsize(self.filename) == 0
        else:
            with open(self.filename, "w", newline=""):
                pass
            self._header = True

    def on_epoch_end(self, epoch, logs):
        if self.keys is None:
            self.keys = sorted(logs)
        with open(self.filename, "a", newline="") as f:
            writer = csv.writer(f, delimiter=self.separator)
            if self._header:
                writer.writerow(["epoch"] + self.keys)
                self._header = False
            writer.writerow([epoch] + [logs.get(k, "NA") for k in self.keys])


class LambdaCallback(Callback):
    """A callback made of functions (Keras' LambdaCallback): ``on_epoch_begin(epoch)``,
    ``on_epoch_end(epoch, logs)``, ``on_train_begin(network)``, ``on_train_end(history)``, each optional.
    Per-batch hooks are left out on purpose: they would keep ``fit`` off the training plan; subclass
    :class:`Callback` for one."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None, **kwargs):
        for name in kwargs:
            if name.startswith("on_batch") or name in ("on_predict_begin", "on_test_begin"):
                raise TypeError(f"LambdaCallback: {name} is not supported (per-batch hooks keep fit off the "
                                f"training plan); subclass pydl.callbacks.Callback and override on_batch_end")
            raise TypeError(f"LambdaCallback: unexpected argument {name!r}; it takes on_epoch_begin, "
                            f"on_epoch_end, on_train_begin and on_train_end")
        hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                 "on_train_begin": on_train_begin, "on_train_end": on_train_end}
        for name, fn in hooks.items():
            if fn is not None and not callable(fn):
                raise TypeError(f"LambdaCallback: {name} must be a function or None, got {type(fn).__name__}")
        self._hooks = hooks

    def on_train_begin(self, network):
        super().on_train_begin(network)
        if self._hooks["on_train_begin"] is not None:
            self._hooks["on_train_begin"](network)

    def on_epoch_begin(self, epoch):
        if self._hooks["on_epoch_begin"] is not None:
            self._hooks["on_epoch_begin"](epoch)

    def on_epoch_end(self, epoch, logs):
        if self._hooks["on_epoch_end"] is not None:
            self._hooks["on_epoch_end"](epoch, logs)

    def on_train_end(self, history):
        if self._hooks["on_train_end"] is not None:
            self._hooks["on_train_end"](history)
