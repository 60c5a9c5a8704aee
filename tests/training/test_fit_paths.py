"""Network.fit trains the same thing on every path: native or Python, whatever the verbosity and wherever
output goes. The decision surface: batch size (None = 32, 1, a divisor and a non-divisor of N, "full"),
shuffle, verbose 0/1/2/None with stderr a pipe or a pseudo-terminal, validation, L2 and callbacks."""
import itertools
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import pydl
from pydl import nn, optim

N = 40  # None means 32 here: a non-divisor; 8 divides N, 7 does not
EPOCHS = 3
BATCH_SIZES = [None, 1, 8, 7, "full"]


def _data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(N + 10, 3))
    y = (x[:, 0] - x[:, 1] ** 2 > -0.5).astype(np.float64)
    return x[:N], y[:N], x[N:], y[N:]


def _net(native):
    net = pydl.Network([nn.Dense(3, 5), nn.Tanh(), nn.Dense(5, 1), nn.Sigmoid()], loss="bce",
                       optimizer=optim.Adam(lr=0.05), dtype=np.float64, seed=11)
    net.native = native
    return net


def _expected_steps(batch_size):
    bs = N if batch_size == "full" else 32 if batch_size is None else batch_size
    return EPOCHS * -(-N // bs)


def _fit(native, batch_size, shuffle, validation, l2, callbacks, verbose=0):
    x, y, xv, yv = _data()
    net = _net(native)
    if l2:
        net.compile(l2=0.01)
    history = net.fit(x, y, epochs=EPOCHS, batch_size=batch_size, shuffle=shuffle, verbose=verbose, seed=5,
                      validation_data=(xv, yv) if validation else None,
                      callbacks=[optim.StepDecay(gamma=0.5)] if callbacks else None)
    return net, history


class _PseudoTerminal:
    """A real pseudo-terminal as sys.stderr, drained by a thread so writes never block."""

    def __init__(self):
        self.master, slave = os.openpty()
        self.file = os.fdopen(slave, "w")
        self.output = bytearray()
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self):
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            if not chunk:
                return
            self.output += chunk

    def close(self):
        self.file.close()
        self.thread.join(timeout=5)
        os.close(self.master)


@pytest.fixture(params=["pipe", "pty"])
def stderr_kind(request, monkeypatch):
    if request.param == "pipe":
        read, write = os.pipe()
        stream = os.fdopen(write, "w")
        drained = bytearray()
        thread = threading.Thread(target=lambda: drained.extend(iter(lambda: os.read(read, 4096), b"")), daemon=True)
        thread.start()
        monkeypatch.setattr(sys, "stderr", stream)
        yield request.param
        stream.close()
        thread.join(timeout=5)
        os.close(read)
    else:
        term = _PseudoTerminal()
        assert term.file.isatty()
        monkeypatch.setattr(sys, "stderr", term.file)
        yield request.param
        term.close()


_REFERENCE = {}


def _reference(batch_size, shuffle, validation, l2, callbacks):
    key = (batch_size, shuffle, validation, l2, callbacks)
    if key not in _REFERENCE:
        _REFERENCE[key] = _fit(False, *key)
    return _REFERENCE[key]


@pytest.mark.parametrize("validation,l2,callbacks", list(itertools.product([False, True], repeat=3)),
                         ids=lambda v: str(v))
@pytest.mark.parametrize("shuffle", [True, False], ids=["shuffle", "in_order"])
@pytest.mark.parametrize("batch_size", BATCH_SIZES, ids=str)
@pytest.mark.parametrize("verbose", [0, 1, 2, None], ids=lambda v: f"verbose{v}")
def test_native_and_python_paths_make_the_same_steps_and_weights(stderr_kind, verbose, batch_size, shuffle,
                                                                 validation, l2, callbacks):
    python_net, python_history = _reference(batch_size, shuffle, validation, l2, callbacks)
    net, history = _fit(True, batch_size, shuffle, validation, l2, callbacks, verbose=verbose)
    assert python_net.optimizer.steps == net.optimizer.steps == _expected_steps(batch_size)
    for (name, p), q in zip(python_net.named_parameters(), net.parameters()):
        np.testing.assert_allclose(q.data, p.data, rtol=1e-12, atol=1e-12, err_msg=name)
    assert sorted(history.history) == sorted(python_history.history)
    for key in history.history:
        if key != "time":
            np.testing.assert_allclose(history[key], python_history[key], rtol=1e-12, atol=1e-12, err_msg=key)


def test_default_batch_size_is_32_like_keras():
    x, y, _, _ = _data()
    net = _net(True)
    net.fit(x, y, epochs=1, verbose=0)
    assert net.optimizer.steps == 2  # 40 samples: a batch of 32 and one of 8


def test_full_batch_is_asked_for_by_name():
    x, y, _, _ = _data()
    net = _net(True)
    net.fit(x, y, epochs=4, batch_size="full", verbose=0)
    assert net.optimizer.steps == 4


def test_many_small_native_epochs_equal_one_call_per_epoch():
    # Chunks of many epochs per native call (nothing runs between them) give the weights of epoch-by-epoch calls.
    x, y, _, _ = _data()
    chunked, stepwise = _net(True), _net(True)
    chunked.fit(x, y, epochs=200, batch_size=7, verbose=0, seed=3)
    stepwise.fit(x, y, epochs=200, batch_size=7, verbose=0, seed=3, callbacks=[pydl.callbacks.Callback()])
    assert chunked.optimizer.steps == stepwise.optimizer.steps == 200 * 6
    for p, q in zip(chunked.parameters(), stepwise.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import pydl
    from pydl import nn, optim
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    y = (x[:, 0] > x[:, 1]).astype(np.float64)
    net = pydl.Network([nn.Dense(3, 8), nn.ReLU(), nn.Dense(8, 1), nn.Sigmoid()], loss="bce",
                       optimizer=optim.Adam(lr=0.01), dtype=np.float64, seed=1)
    net.fit(x, y, epochs=20, verbose=None)
    np.save(sys.argv[1], np.concatenate([p.data.ravel() for p in net.parameters()]))
    print(net.optimizer.steps)
""")


def test_same_training_with_stderr_a_pipe_or_a_pseudo_terminal(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    piped = subprocess.run([sys.executable, str(script), str(tmp_path / "pipe.npy")], capture_output=True, text=True,
                           env=env, cwd=tmp_path, timeout=120)
    assert piped.returncode == 0, piped.stderr
    term = _PseudoTerminal()
    with_tty = subprocess.run([sys.executable, str(script), str(tmp_path / "tty.npy")], stdout=subprocess.PIPE,
                              stderr=term.file, text=True, env=env, cwd=tmp_path, timeout=120)
    term.close()
    assert with_tty.returncode == 0, term.output.decode(errors="replace")
    assert piped.stdout == with_tty.stdout == "200\n"  # 20 epochs of ceil(300 / 32) = 10 steps
    assert np.load(tmp_path / "pipe.npy").tobytes() == np.load(tmp_path / "tty.npy").tobytes()
    # A pipe gets one line per epoch and no carriage-return frames; the terminal gets the redrawn bar.
    lines = piped.stderr.splitlines()
    assert len(lines) == 20 and "\r" not in piped.stderr
    assert lines[-1].startswith("Epoch 20/20 - 300/300 - ") and " - loss: " in lines[-1]
    assert "\r" in term.output.decode() and "[" + "=" * 30 + "]" in term.output.decode()


def test_float32_paths_agree_where_training_is_not_chaotic():
    # Centered RMSprop at lr 0.1 amplifies a 1-ulp change of one weight ~200x per epoch (float64 too), so
    # paths rounding differently part ways there; at lr 0.001 they stay within float32 rounding.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    y = (x[:, 0] * x[:, 1] > 0).astype(np.float32)
    weights = []
    for native in (True, False):
        net = pydl.Network([nn.Dense(5, 16), nn.Tanh(), nn.Dense(16, 8), nn.Tanh(), nn.Dense(8, 1)],
                           loss="bce_with_logits", optimizer=optim.RMSprop(lr=0.001, centered=True),
                           dtype=np.float32, seed=4)
        net.native = native
        net.fit(x, y, epochs=30, batch_size=16, verbose=0, seed=1)
        weights.append(np.concatenate([p.data.ravel() for p in net.parameters()]))
    np.testing.assert_allclose(weights[0], weights[1], rtol=0, atol=1e-5 * np.abs(weights[1]).max())


@pytest.mark.parametrize("shuffle", [True, False], ids=["shuffle", "in_order"])
def test_long_native_epochs_in_parts_make_the_same_steps(monkeypatch, shuffle):
    # Long native epochs run in parts of whole batches so the bar moves within them: same steps, same weights.
    x, y, _, _ = _data()
    whole = _net(True)
    expected = whole.fit(x, y, epochs=3, batch_size=7, shuffle=shuffle, verbose=0, seed=2,
                         callbacks=[pydl.callbacks.Callback()])
    monkeypatch.setattr("pydl.training._PART_SECONDS", 0.0)
    monkeypatch.setattr("pydl.training._PARTS", 3)
    frames = []
    monkeypatch.setattr("pydl.progress.Progress.update", lambda self, done, logs: frames.append(done))
    parts = _net(True)
    history = parts.fit(x, y, epochs=3, batch_size=7, shuffle=shuffle, verbose=0, seed=2,
                        callbacks=[pydl.callbacks.Callback()])
    assert frames == [14, 28, 40, 14, 28, 40]  # epochs 2 and 3 in parts of 2 batches
    assert parts.optimizer.steps == whole.optimizer.steps == 3 * 6
    for p, q in zip(whole.parameters(), parts.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(history[key], expected[key], rtol=1e-12)
