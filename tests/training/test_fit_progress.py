"""What fit shows: nothing at verbose=0; a line per epoch in pipes and logs (no carriage-return frames);
a bar redrawn in place, a few times a second at most, on a terminal."""
import io
import time

import numpy as np
import pytest

import pydl
from pydl import nn, optim
from pydl.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _net():
    return pydl.Network([nn.Dense(2, 4), nn.Tanh(), nn.Dense(4, 1), nn.Sigmoid()], loss="bce",
                        optimizer=optim.SGD(lr=0.5), seed=0)


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2))
    return x, (x[:, 0] > 0).astype(np.float32)


def test_verbose_0_prints_nothing(capsys):
    _net().fit(*_data(), epochs=3, verbose=0)
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("verbose", [None, 1, 2])
def test_not_a_terminal_gets_one_line_per_epoch(capsys, verbose):
    _net().fit(*_data(), epochs=3, verbose=verbose)
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == "" and "\r" not in err and len(lines) == 3
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert all(" - 64/64 - " in line and " - loss: " in line and " - accuracy: " in line for line in lines)


def test_epoch_line_shows_validation_and_the_cost_only_with_l2(capsys):
    x, y = _data()
    net = _net()
    net.fit(x, y, epochs=1, validation_data=(x, y), verbose=2)
    line = capsys.readouterr().err
    assert " - val_loss: " in line and " - val_accuracy: " in line and "cost" not in line
    net.compile(l2=0.1)
    net.fit(x, y, epochs=1, verbose=2)
    assert " - cost: " in capsys.readouterr().err


def test_terminal_gets_a_bar_redrawn_in_place(monkeypatch):
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    _net().fit(*_data(), epochs=2, verbose=None)
    text = term.getvalue()
    assert text.startswith("\r") and text.endswith("\n")
    assert "64/64 [" + "=" * 30 + "]" in text and "Epoch 2/2" in text


def test_verbose_2_on_a_terminal_prints_lines(monkeypatch):
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    _net().fit(*_data(), epochs=2, verbose=2)
    assert "\r" not in term.getvalue() and len(term.getvalue().splitlines()) == 2


def test_bar_advances_within_a_long_epoch_at_most_five_times_a_second():
    term = _Terminal()
    progress = Progress(epochs=1, samples=1000, verbose=1, stream=term)
    progress.epoch_begin(0)
    start = time.perf_counter()
    done = 0
    while time.perf_counter() - start < 1.0:
        done = min(done + 1, 999)
        progress.update(done, {"loss": 0.5})
    frames = term.getvalue().count("\r")
    assert 2 <= frames <= 7
    assert "[" + "=" * 29 in term.getvalue()  # a frame near the end of the epoch shows an almost full bar
    progress.epoch_end(0, {"loss": 0.5}, 1.0)
    assert term.getvalue().endswith("\n")


def test_python_path_updates_the_bar_within_the_epoch(monkeypatch):
    frames = []
    monkeypatch.setattr(Progress, "_draw", lambda self, done, logs, seconds: frames.append(done))
    monkeypatch.setattr("pydl.progress._REFRESH_S", 0.0)
    monkeypatch.setattr("pydl.progress.interactive", lambda stream: True)
    net = _net()
    net.native = False
    net.fit(*_data(), epochs=1, batch_size=16, verbose=1)
    assert frames[:4] == [16, 32, 48, 64]


def test_stopped_training_ends_the_bar_line(monkeypatch):
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)

    class Stop(pydl.callbacks.Callback):
        def on_train_begin(self, network):
            self.net = network

        def on_epoch_end(self, epoch, logs):
            self.net.stop_training = True

    _net().fit(*_data(), epochs=5, verbose=1, callbacks=[Stop()])
    assert term.getvalue().endswith("\n") and "Epoch 1/5" in term.getvalue()
