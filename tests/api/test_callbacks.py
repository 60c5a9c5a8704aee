"""Keras' callbacks (pydl.callbacks): EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, CSVLogger,
LambdaCallback, and plain functions as per-epoch callbacks.

Most tests feed the monitored value from a script (a callback that writes ``score`` into the epoch's
logs ahead of the one under test), so the epoch each callback acts at is known exactly; the weights it
keeps or saves are then compared with a fresh network trained for that many epochs.
"""
import csv
import os

import numpy as np
import pytest
from wrapped_backend import WRAPPED  # noqa: F401  (registers the "wrapped" test device)

import pydl
from pydl import nn, optim
from pydl.callbacks import (Callback, CSVLogger, EarlyStopping, LambdaCallback, ModelCheckpoint,
                            ReduceLROnPlateau)
from pydl.plan import TrainingPlan

DEVICES = ["cpu", "numpy", "wrapped"]


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 2))
    return x, (x[:, 0] * x[:, 1] > 0).astype(np.int64) + (x[:, 0] > 0.5)


def _net(device="cpu", lr=0.2):
    return pydl.Network([nn.Dense(2, 6), nn.Tanh(), nn.Dense(6, 3)], loss="cross_entropy",
                        optimizer=optim.SGD(lr=lr, momentum=0.5), dtype="float64", seed=1, device=device)


def _weights(net):
    return [net._dev.to_numpy(p.data) for p in net.parameters()]


def _trained(epochs, device="cpu", **fit):
    """A fresh network after ``epochs`` epochs: what a callback should keep of that epoch."""
    net = _net(device)
    net.fit(*_data(), epochs=epochs, batch_size=8, verbose=0, **fit)
    return net


def _assert_same_weights(a, b):
    for wa, wb in zip(_weights(a) if isinstance(a, pydl.Network) else a, _weights(b)):
        np.testing.assert_array_equal(wa, wb)


def _script(values, key="score"):
    """A callback putting ``values[epoch]`` into the logs under ``key`` (run it before the monitor)."""
    return LambdaCallback(on_epoch_end=lambda epoch, logs: logs.__setitem__(key, values[epoch]))


def _fit(net, values, callback, epochs=None, **fit):
    return net.fit(*_data(), epochs=len(values) if epochs is None else epochs, batch_size=8, verbose=0,
                   callbacks=[_script(values), callback], **fit)


# ---- EarlyStopping -------------------------------------------------------------------------------

def test_early_stopping_stops_after_patience_epochs_without_improvement():
    stop = EarlyStopping(monitor="score", patience=3)
    history = _fit(_net(), [1.0, 0.8, 0.9, 0.85, 0.81, 0.7, 0.6, 0.5], stop)
    # Best at epoch 1; epochs 2, 3, 4 do not improve on it: training ends after epoch 4.
    assert len(history) == 5 and history.epoch == [0, 1, 2, 3, 4]
    assert (stop.stopped_epoch, stop.best_epoch, stop.best, stop.wait) == (4, 1, 0.8, 3)


def test_patience_zero_stops_at_the_first_epoch_that_does_not_improve():
    stop = EarlyStopping(monitor="score")
    assert len(_fit(_net(), [3.0, 2.0, 2.0, 1.0], stop)) == 3 and stop.stopped_epoch == 2


@pytest.mark.parametrize("device", DEVICES)
def test_restore_best_weights_puts_back_the_best_epochs_weights(device):
    net = _net(device)
    stop = EarlyStopping(monitor="score", patience=2, restore_best_weights=True)
    assert len(_fit(net, [1.0, 0.5, 0.7, 0.6, 0.1, 0.1], stop)) == 4
    _assert_same_weights(net, _trained(2, device))  # the network after its best epoch, epoch 1


def test_without_restore_best_weights_the_last_epochs_weights_stay():
    net = _net()
    _fit(net, [1.0, 0.5, 0.7, 0.6, 0.1, 0.1], EarlyStopping(monitor="score", patience=2))
    _assert_same_weights(net, _trained(4))


def test_best_weights_are_restored_also_when_the_epochs_run_out_first():
    net = _net()
    stop = EarlyStopping(monitor="score", patience=10, restore_best_weights=True)
    assert len(_fit(net, [1.0, 0.5, 0.7, 0.6], stop)) == 4 and stop.stopped_epoch == 0
    _assert_same_weights(net, _trained(2))


def test_early_stopping_on_real_validation_loss_restores_its_minimum():
    x, y = _data(90, seed=4)
    net = _net(lr=1.0)
    stop = EarlyStopping(patience=3, restore_best_weights=True)  # monitor="val_loss", mode "min"
    history = net.fit(x[:60], y[:60], epochs=200, batch_size=8, verbose=0, validation_data=(x[60:], y[60:]),
                      callbacks=[stop])
    assert len(history) < 200 and stop.stopped_epoch == len(history) - 1
    assert stop.best_epoch == int(np.argmin(history["val_loss"])) == len(history) - 4
    assert net.evaluate(x[60:], y[60:])["loss"] == pytest.approx(min(history["val_loss"]), rel=1e-12)
    again = _net(lr=1.0)
    again.fit(x[:60], y[:60], epochs=stop.best_epoch + 1, batch_size=8, verbose=0)
    _assert_same_weights(net, again)


def test_min_delta_sets_how_much_counts_as_an_improvement():
    stop = EarlyStopping(monitor="score", patience=2, min_delta=0.1)
    assert len(_fit(_net(), [1.0, 0.95, 0.92, 0.5, 0.4], stop)) == 3 and stop.best == 1.0


def test_mode_max_and_auto_for_accuracy():
    stop = EarlyStopping(monitor="score", mode="max", patience=1)
    assert len(_fit(_net(), [0.1, 0.5, 0.4, 0.9], stop)) == 3 and stop.best == 0.5
    assert EarlyStopping(monitor="val_accuracy").mode == "max"
    assert EarlyStopping(monitor="accuracy").mode == "max"
    assert EarlyStopping().mode == EarlyStopping(monitor="cost").mode == "min"


def test_baseline_stops_after_patience_epochs_unless_beaten():
    stop = EarlyStopping(monitor="score", patience=2, baseline=0.5)
    assert len(_fit(_net(), [1.0, 0.9, 0.8, 0.7, 0.6], stop)) == 2  # improving, but never below 0.5
    stop = EarlyStopping(monitor="score", patience=2, baseline=0.5)
    assert len(_fit(_net(), [1.0, 0.4, 0.45, 0.42, 0.3], stop)) == 4


def test_start_from_epoch_ignores_the_warm_up():
    stop = EarlyStopping(monitor="score", patience=1, start_from_epoch=2)
    assert len(_fit(_net(), [1.0, 2.0, 3.0, 4.0, 5.0], stop)) == 4 and stop.best_epoch == 2


def test_early_stopping_resets_between_fits():
    stop = EarlyStopping(monitor="score", patience=1)
    net = _net()
    assert len(_fit(net, [1.0, 2.0, 3.0], stop)) == 2
    assert len(_fit(net, [5.0, 4.0, 3.0], stop)) == 3 and stop.stopped_epoch == 0 and stop.best == 3.0


def test_verbose_early_stopping_says_when_it_stops_and_restores(capsys):
    stop = EarlyStopping(monitor="score", patience=1, restore_best_weights=True, verbose=1)
    _fit(_net(), [1.0, 0.5, 0.7, 0.8], stop)
    err = capsys.readouterr().err
    assert "Epoch 3: early stopping" in err and "best epoch: 2" in err


def test_a_missing_monitor_raises_naming_the_keys_and_leaves_the_network_as_it_was():
    net = _net()
    before = _weights(net)
    with pytest.raises(ValueError, match=r"EarlyStopping: monitor 'val_loss' is not in the epoch's logs \(keys: "
                                         r"accuracy, cost, loss, lr, time\); 'val_loss' needs validation data"):
        net.fit(*_data(), epochs=3, verbose=0, callbacks=[EarlyStopping()])
    _assert_same_weights(before, net)
    with pytest.raises(ValueError, match="monitor 'val_acc' .* did you mean 'val_accuracy'"):
        net.fit(*_data(), epochs=3, verbose=0, validation_split=0.2, callbacks=[EarlyStopping(monitor="val_acc")])


# ---- ModelCheckpoint -----------------------------------------------------------------------------

def _loaded_weights(path):
    return _weights(pydl.load(path))


@pytest.mark.parametrize("device", DEVICES)
def test_checkpoint_with_save_best_only_holds_the_best_epochs_weights(tmp_path, device):
    path = tmp_path / "best.npz"
    checkpoint = ModelCheckpoint(path, monitor="score", save_best_only=True)
    _fit(_net(device), [3.0, 1.0, 2.0, 1.5, 1.0], checkpoint)
    assert (checkpoint.best, checkpoint.best_epoch) == (1.0, 1)  # equal later is no improvement
    _assert_same_weights(_loaded_weights(path), _trained(2, device))
    assert os.listdir(tmp_path) == ["best.npz"]  # atomic saves leave no temporaries


def test_checkpoint_every_epoch_fills_the_path_from_the_logs(tmp_path):
    pattern = str(tmp_path / "ckpt" / "{epoch:02d}-{score:.2f}.npz")
    net = _net()
    _fit(net, [0.5, 0.25, 0.125], ModelCheckpoint(pattern))  # folder created; epoch 1-based, as in Keras
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["01-0.50.npz", "02-0.25.npz", "03-0.12.npz"]
    _assert_same_weights(_loaded_weights(tmp_path / "ckpt" / "01-0.50.npz"), _trained(1))
    _assert_same_weights(_loaded_weights(tmp_path / "ckpt" / "03-0.12.npz"), net)


def test_checkpoint_with_the_optimizer_resumes_training_exactly(tmp_path):
    path = tmp_path / "resume.npz"
    net = _net()
    net.fit(*_data(), epochs=2, batch_size=8, verbose=0, callbacks=[ModelCheckpoint(path, include_optimizer=True)])
    resumed = pydl.load(path)
    resumed.fit(*_data(), epochs=2, batch_size=8, verbose=0)
    _assert_same_weights(resumed, _trained(4))


def test_checkpoint_mode_max_and_initial_value_threshold(tmp_path):
    path = tmp_path / "best.npz"
    checkpoint = ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True, initial_value_threshold=2.0)
    _fit(_net(), [0.0, 0.0], checkpoint, validation_split=0.25)
    assert checkpoint.mode == "max" and not path.exists()  # accuracy never exceeds 2
    checkpoint = ModelCheckpoint(path, monitor="score", save_best_only=True, mode="max")
    _fit(_net(), [1.0, 3.0, 2.0], checkpoint)
    assert checkpoint.best_epoch == 1
    _assert_same_weights(_loaded_weights(path), _trained(2))


def test_checkpoint_path_naming_a_missing_key_raises(tmp_path):
    with pytest.raises(ValueError, match=r"ModelCheckpoint: cannot fill filepath .*\{val_loss:\.3f\}.*\(keys: epoch, "
                                         r"accuracy, cost, loss, lr, time"):
        _net().fit(*_data(), epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "{val_loss:.3f}.npz"))])


def test_verbose_checkpoint_reports_saves(tmp_path, capsys):
    _fit(_net(), [2.0, 3.0], ModelCheckpoint(tmp_path / "m.npz", monitor="score", save_best_only=True, verbose=1))
    err = capsys.readouterr().err
    assert "Epoch 1: score improved from inf to 2.00000, saving model to" in err
    assert "Epoch 2: score did not improve from 2.00000" in err


# ---- ReduceLROnPlateau ---------------------------------------------------------------------------

def _set_rates(rates):
    """A callback giving epoch e + 1 the rate ``rates[e]`` where given: the reductions, done by hand."""
    def set_rate(epoch, logs):
        if epoch in rates:
            set_rate.net.optimizer.lr = rates[epoch]
    return LambdaCallback(on_train_begin=lambda net: setattr(set_rate, "net", net), on_epoch_end=set_rate)


def test_plateau_reduction_changes_the_rate_exactly_when_it_should():
    scores = [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]
    plateau = ReduceLROnPlateau(monitor="score", factor=0.5, patience=2, cooldown=1)
    net = _net(lr=0.2)
    history = _fit(net, scores, plateau)
    # Epoch 2 is the second without improvement: 0.2 -> 0.1. After one epoch of cooldown, epoch 4 is again
    # the second: 0.1 -> 0.05. Epoch 5 improves; epochs 6 and 7 do not: 0.05 -> 0.025 after epoch 7.
    assert plateau.changes == [(2, 0.2, 0.1), (4, 0.1, 0.05), (7, 0.05, 0.025)]
    assert history["lr"] == [0.2, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]
    assert net.optimizer.lr == 0.025
    by_hand = _net(lr=0.2)
    by_hand.fit(*_data(), epochs=len(scores), batch_size=8, verbose=0,
                callbacks=[_set_rates({2: 0.1, 4: 0.05, 7: 0.025})])
    _assert_same_weights(net, by_hand)  # the new rates are the ones training used


def test_plateau_min_delta_and_the_keras_defaults():
    plateau = ReduceLROnPlateau(monitor="score", factor=0.5, patience=1, min_delta=0.1)
    _fit(_net(lr=0.2), [1.0, 0.95, 0.8, 0.75], plateau)
    assert [epoch for epoch, _, _ in plateau.changes] == [1, 3]
    defaults = ReduceLROnPlateau()
    assert (defaults.monitor, defaults.factor, defaults.patience, defaults.min_delta, defaults.cooldown,
            defaults.min_lr, defaults.mode) == ("val_loss", 0.1, 10, 1e-4, 0, 0.0, "min")


def test_plateau_never_goes_below_min_lr():
    plateau = ReduceLROnPlateau(monitor="score", factor=0.5, patience=1, min_lr=0.06)
    history = _fit(_net(lr=0.2), [1.0] * 6, plateau)
    assert history["lr"] == [0.2, 0.2, 0.1, 0.06, 0.06, 0.06]
    assert plateau.changes == [(1, 0.2, 0.1), (2, 0.1, 0.06)]


def test_plateau_in_mode_max():
    plateau = ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1)
    assert plateau.mode == "max"
    plateau = ReduceLROnPlateau(monitor="score", mode="max", factor=0.5, patience=1)
    _fit(_net(lr=0.2), [0.1, 0.2, 0.2, 0.3], plateau)
    assert plateau.changes == [(2, 0.2, 0.1)]


# ---- CSVLogger -----------------------------------------------------------------------------------

def _rows(path, separator=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=separator))


def test_csv_logger_writes_a_row_per_epoch_with_the_logs(tmp_path):
    path = tmp_path / "log.csv"
    history = _net().fit(*_data(), epochs=3, batch_size=8, verbose=0, validation_split=0.25,
                         callbacks=[CSVLogger(path)])
    rows = _rows(path)
    assert rows[0] == ["epoch", "accuracy", "cost", "loss", "lr", "time", "val_accuracy", "val_cost", "val_loss"]
    assert [row[0] for row in rows[1:]] == ["0", "1", "2"]  # Keras writes 0-based epochs
    columns = list(zip(*rows[1:]))
    for key, column in zip(rows[0][1:], columns[1:]):
        assert [float(v) for v in column] == history[key]  # written exactly


def test_csv_logger_appends_or_starts_afresh(tmp_path):
    path = tmp_path / "log.csv"
    net = _net()
    net.fit(*_data(), epochs=2, verbose=0, callbacks=[CSVLogger(path, separator=";")])
    net.fit(*_data(), epochs=1, verbose=0, callbacks=[CSVLogger(path, separator=";", append=True)])
    rows = _rows(path, ";")
    assert len(rows) == 4 and rows[0][0] == "epoch" and [r[0] for r in rows[1:]] == ["0", "1", "0"]
    net.fit(*_data(), epochs=1, verbose=0, callbacks=[CSVLogger(path)])
    assert len(_rows(path)) == 2
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    net.fit(*_data(), epochs=1, verbose=0, callbacks=[CSVLogger(empty, append=True)])
    assert _rows(empty)[0][0] == "epoch"


def test_csv_logger_keeps_the_first_epochs_columns(tmp_path):
    path = tmp_path / "log.csv"
    extra = LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update({"extra": 1.0}) if epoch == 0 else None)
    _net().fit(*_data(), epochs=2, verbose=0, callbacks=[extra, CSVLogger(path)])
    rows = _rows(path)
    assert rows[1][rows[0].index("extra")] == "1.0" and rows[2][rows[0].index("extra")] == "NA"


# ---- LambdaCallback, functions, the network ------------------------------------------------------

def test_lambda_callback_calls_each_hook_with_its_arguments():
    calls = []
    net = _net()
    cb = LambdaCallback(on_train_begin=lambda n: calls.append(("train_begin", n is net)),
                        on_epoch_begin=lambda e: calls.append(("epoch_begin", e)),
                        on_epoch_end=lambda e, logs: calls.append(("epoch_end", e, sorted(logs))),
                        on_train_end=lambda h: calls.append(("train_end", len(h))))
    net.fit(*_data(), epochs=2, verbose=0, callbacks=[cb])
    keys = ["accuracy", "cost", "loss", "lr", "time"]
    assert calls == [("train_begin", True), ("epoch_begin", 0), ("epoch_end", 0, keys), ("epoch_begin", 1),
                     ("epoch_end", 1, keys), ("train_end", 2)]
    assert cb.network is net and cb.model is net


def test_plain_functions_run_at_the_end_of_each_epoch():
    seen, net = [], _net()

    def log(epoch, logs):
        seen.append((epoch, logs["loss"]))

    class Recorder:
        def __init__(self):
            self.epochs = []

        def record(self, epoch, logs):
            self.epochs.append(epoch)

    recorder = Recorder()
    history = net.fit(*_data(), epochs=3, verbose=0, callbacks=[log, recorder.record])
    assert seen == list(enumerate(history["loss"])) and recorder.epochs == [0, 1, 2]
    seen.clear()
    net.fit(*_data(), epochs=2, verbose=0, callbacks=log)  # one callback without a list
    net.fit(*_data(), epochs=1, verbose=0, callbacks=EarlyStopping(monitor="loss"))
    assert [e for e, _ in seen] == [0, 1]


def test_a_function_can_stop_training_through_the_network():
    net = _net()

    def stop_after_two(epoch, logs):
        net.stop_training = epoch == 1

    assert len(net.fit(*_data(), epochs=10, verbose=0, callbacks=[stop_after_two])) == 2


def test_a_callback_reaches_the_network_as_self_network():
    class StopWhenAccurate(Callback):
        def on_train_begin(self, network):  # overridden without super(): fit still sets self.network
            pass

        def on_epoch_end(self, epoch, logs):
            self.network.stop_training = epoch == 2
            self.model.seen = True  # Keras' name for it

    net = _net()
    assert len(net.fit(*_data(), epochs=10, verbose=0, callbacks=[StopWhenAccurate()])) == 3 and net.seen


@pytest.mark.parametrize("bad,message", [
    (print, "callbacks must be pydl.callbacks.Callback objects, got builtin_function_or_method; a Python "
            "function fn\\(epoch, logs\\) is also accepted"),
    (EarlyStopping, "callbacks must be pydl.callbacks.Callback objects, got the class EarlyStopping; pass an "
                    "instance, EarlyStopping\\(...\\)"),
    ("early_stopping", "callbacks must be a list of pydl.callbacks.Callback objects or functions"),
    (3, "callbacks must be a list of"),
    ([lambda epoch: None], "the callback function '<lambda>' must take \\(epoch, logs\\)"),
])
def test_fit_names_what_callbacks_may_be(bad, message):
    with pytest.raises(TypeError, match="fit: " + message):
        _net().fit(*_data(), epochs=1, verbose=0, callbacks=bad)


def test_lambda_callback_refuses_batch_hooks_and_non_functions():
    with pytest.raises(TypeError, match="LambdaCallback: on_batch_end is not supported .*subclass"):
        LambdaCallback(on_batch_end=lambda batch, logs: None)
    with pytest.raises(TypeError, match="LambdaCallback: unexpected argument 'on_epoch'"):
        LambdaCallback(on_epoch=print)
    with pytest.raises(TypeError, match="LambdaCallback: on_epoch_end must be a function or None, got int"):
        LambdaCallback(on_epoch_end=1)


# ---- the training plan ---------------------------------------------------------------------------

def test_no_callback_keeps_fit_off_the_training_plan(tmp_path, monkeypatch):
    calls = []
    run = TrainingPlan.run

    def spy(self, *args, **kwargs):
        calls.append(1)
        return run(self, *args, **kwargs)

    monkeypatch.setattr(TrainingPlan, "run", spy)
    callbacks = [EarlyStopping(patience=50, restore_best_weights=True), ModelCheckpoint(tmp_path / "m.npz"),
                 ReduceLROnPlateau(patience=1), CSVLogger(tmp_path / "log.csv"), LambdaCallback(),
                 lambda epoch, logs: None, optim.StepDecay(gamma=0.9)]
    net = _net()
    history = net.fit(*_data(), epochs=4, batch_size=8, verbose=0, validation_split=0.25, callbacks=callbacks)
    assert len(history) == 4 and len(calls) == 4  # one plan call per epoch, none through Python


# ---- argument checks -----------------------------------------------------------------------------

@pytest.mark.parametrize("make,error,message", [
    (lambda: EarlyStopping(monitor=""), TypeError, "EarlyStopping: monitor must be a non-empty string"),
    (lambda: EarlyStopping(monitor=None), TypeError, "EarlyStopping: monitor must be a non-empty string"),
    (lambda: EarlyStopping(mode="up"), ValueError, "EarlyStopping: mode must be 'auto', 'min' or 'max', got 'up'"),
    (lambda: EarlyStopping(min_delta=-0.1), ValueError, "EarlyStopping: min_delta must be finite and in \\[0"),
    (lambda: EarlyStopping(patience=-1), ValueError, "EarlyStopping: patience must be in \\[0"),
    (lambda: EarlyStopping(patience=1.5), TypeError, "EarlyStopping: patience must be an integer"),
    (lambda: EarlyStopping(baseline="low"), TypeError, "EarlyStopping: baseline must be a real number"),
    (lambda: EarlyStopping(baseline=float("nan")), ValueError, "EarlyStopping: baseline must be finite"),
    (lambda: EarlyStopping(restore_best_weights=1), TypeError, "EarlyStopping: restore_best_weights must be True"),
    (lambda: EarlyStopping(start_from_epoch=-1), ValueError, "EarlyStopping: start_from_epoch must be in"),
    (lambda: ModelCheckpoint(None), TypeError, "ModelCheckpoint: filepath must be a file path"),
    (lambda: ModelCheckpoint(""), TypeError, "ModelCheckpoint: filepath must be a file path"),
    (lambda: ModelCheckpoint("m.npz", save_best_only="yes"), TypeError, "ModelCheckpoint: save_best_only must"),
    (lambda: ModelCheckpoint("m.npz", mode="best"), ValueError, "ModelCheckpoint: mode must be"),
    (lambda: ModelCheckpoint("m.npz", include_optimizer=None), TypeError, "ModelCheckpoint: include_optimizer must"),
    (lambda: ReduceLROnPlateau(factor=1.0), ValueError, "ReduceLROnPlateau: factor must be finite and in \\(0, 1\\)"),
    (lambda: ReduceLROnPlateau(factor=0), ValueError, "ReduceLROnPlateau: factor must be finite and in \\(0, 1\\)"),
    (lambda: ReduceLROnPlateau(min_lr=-1), ValueError, "ReduceLROnPlateau: min_lr must be finite and in \\[0"),
    (lambda: ReduceLROnPlateau(cooldown=-1), ValueError, "ReduceLROnPlateau: cooldown must be in"),
    (lambda: ReduceLROnPlateau(patience=None), TypeError, "ReduceLROnPlateau: patience must be an integer"),
    (lambda: CSVLogger(3), TypeError, "CSVLogger: filename must be a file path"),
    (lambda: CSVLogger("log.csv", separator=";;"), TypeError, "CSVLogger: separator must be a single character"),
    (lambda: CSVLogger("log.csv", append="no"), TypeError, "CSVLogger: append must be True or False"),
])
def test_arguments_are_checked_where_given(make, error, message):
    with pytest.raises(error, match=message):
        make()
