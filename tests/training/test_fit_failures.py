"""A fit that fails leaves a network one can trust: divergence stops at the step that went non-finite
with the weights of the last finite step; any other error puts the network back as it was before the
call; hyper-parameters and sizes are checked where they are set."""
import numpy as np
import pytest

import pydl
from pydl import nn, optim
from pydl.training import DivergenceError


def _data(n=64, scale=1.0):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, 4)) * scale
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.float64)


def _net(lr, native=True, **kwargs):
    net = pydl.Network([nn.Dense(4, 16), nn.ReLU(), nn.Dense(16, 1)], loss="mse",
                       optimizer=optim.SGD(lr=lr, **kwargs), dtype=np.float64, seed=2)
    net.native = native
    return net


def _state(net):
    return [p.data.copy() for p in net.parameters()], net.optimizer.steps


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_divergence_stops_at_the_step_with_the_last_finite_weights(native):
    x, y = _data(scale=30.0)
    net = _net(lr=5.0, native=native)
    with pytest.raises(DivergenceError, match=r"fit: training diverged at epoch (\d+), batch (\d+) of 8") as info:
        net.fit(x, y, epochs=50, batch_size=8, verbose=0, seed=1)
    error = info.value
    assert isinstance(error, ValueError)
    assert all(np.isfinite(p.data).all() for p in net.parameters())
    # The kept weights are those of a run stopped just before the failing step.
    steps = error.epoch * 8 + error.batch
    assert net.optimizer.steps == steps
    replay = _net(lr=5.0, native=False)
    replay.fit(x, y, epochs=error.epoch, batch_size=8, verbose=0, seed=1)
    perm_rng = np.random.default_rng(1)
    for _ in range(error.epoch):
        perm_rng.permutation(64)
    order = perm_rng.permutation(64)
    for b in range(error.batch):
        replay.train_step(x[order[b * 8:(b + 1) * 8]], y[order[b * 8:(b + 1) * 8]])
    assert replay.optimizer.steps == steps
    for p, q in zip(net.parameters(), replay.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-10, atol=1e-10)


def test_diverging_full_batch_training_names_the_epoch():
    x, y = _data(scale=100.0)
    net = _net(lr=10.0)
    with pytest.raises(DivergenceError, match=r"epoch \d+, batch 1 of 1: .*last finite step; try a smaller learning"):
        net.fit(x, y, epochs=1000, batch_size="full", verbose=0)
    assert all(np.isfinite(p.data).all() for p in net.parameters())


class _Boom(pydl.callbacks.Callback):
    def __init__(self, at_epoch, error):
        self.at_epoch, self.error = at_epoch, error

    def on_epoch_end(self, epoch, logs):
        if epoch == self.at_epoch:
            raise self.error


def test_a_failing_callback_leaves_the_network_as_before_the_call():
    x, y = _data()
    net = _net(lr=0.01, momentum=0.9)
    net.fit(x, y, epochs=1, verbose=0)
    weights, steps = _state(net)
    momentum = [a.copy() for s in net.optimizer._state for a in s.values()]
    with pytest.raises(RuntimeError, match="callback failed") as info:
        net.fit(x, y, epochs=5, verbose=0, callbacks=[_Boom(2, RuntimeError("callback failed"))])
    if hasattr(info.value, "add_note"):  # Python 3.11+
        assert any("as before this call" in note for note in info.value.__notes__)
    assert net.optimizer.steps == steps
    for w, p in zip(weights, net.parameters()):
        np.testing.assert_array_equal(w, p.data)
    for m, a in zip(momentum, (a for s in net.optimizer._state for a in s.values())):
        np.testing.assert_array_equal(m, a)
    # The shuffling generator is back too: the same call without the failure gives a fresh network's result.
    net.fit(x, y, epochs=1, verbose=0)
    other = _net(lr=0.01, momentum=0.9)
    other.fit(x, y, epochs=1, verbose=0)
    other.fit(x, y, epochs=1, verbose=0)
    for p, q in zip(net.parameters(), other.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


def test_ctrl_c_keeps_the_epochs_finished_before_it():
    x, y = _data()
    net = _net(lr=0.01)
    with pytest.raises(KeyboardInterrupt):
        net.fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[_Boom(2, KeyboardInterrupt())])
    assert net.optimizer.steps == 2 * 4


@pytest.mark.parametrize("make,error,match", [
    (lambda: optim.SGD(lr=float("nan")), ValueError, r"SGD: lr must be finite and in \(0, 1e\+06\], got nan"),
    (lambda: optim.SGD(lr=1e308), ValueError, "SGD: lr must be finite"),
    (lambda: optim.SGD(lr=10**400), ValueError, "SGD: lr must be finite"),
    (lambda: optim.SGD(lr="0.1"), TypeError, "SGD: lr must be a real number, got str"),
    (lambda: optim.SGD(lr=True), TypeError, "SGD: lr must be a real number, got bool"),
    (lambda: optim.SGD(lr=0.1, weight_decay=float("inf")), ValueError, "SGD: weight_decay must be finite"),
    (lambda: optim.SGD(lr=0.1, momentum=-0.5), ValueError, "SGD: momentum must be finite and in"),
    (lambda: optim.Adam(betas=(0.9, 1.0)), ValueError, r"Adam: betas\[1\] must be finite and in \[0, 1\)"),
    (lambda: optim.Adam(betas=0.9), TypeError, "Adam: betas must be a pair"),
    (lambda: optim.RMSprop(alpha=1.5), ValueError, "RMSprop: alpha must be finite and in"),
    (lambda: optim.RMSprop(eps=float("nan")), ValueError, "RMSprop: eps must be finite"),
    (lambda: optim.StepDecay(gamma=float("inf")), ValueError, "StepDecay: gamma must be finite"),
    (lambda: optim.StepDecay(step_size=2.5), TypeError, "StepDecay: step_size must be an integer"),
    (lambda: optim.CyclicLR(base_lr=0.1, max_lr=0.01), ValueError, "CyclicLR: max_lr must be finite and in"),
    (lambda: pydl.Network([nn.Dense(2, 1)], l2=1e308), ValueError, "Network: l2 must be finite and in"),
    (lambda: pydl.Network([nn.Dense(2, 1)], l2=float("nan")), ValueError, "Network: l2 must be finite"),
])
def test_hyper_parameters_are_checked_where_they_are_set(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_setting_a_bad_learning_rate_later_is_refused():
    opt = optim.Adam(lr=0.01)
    with pytest.raises(ValueError, match="Adam: lr must be finite"):
        opt.lr = float("inf")
    assert opt.lr == 0.01


@pytest.mark.parametrize("make,error,match", [
    (lambda: nn.Dense(10**30, 2), ValueError, r"Dense: in_features must be in \[1, 16777216\], got 10{30}"),
    (lambda: nn.Dense(2.5, 2), TypeError, "Dense: in_features must be an integer, got float"),
    (lambda: nn.Dense(np.array([3]), 2), TypeError, "Dense: in_features must be an integer, got ndarray"),
    (lambda: nn.Dense(True, 2), TypeError, "Dense: in_features must be an integer, got bool"),
    (lambda: nn.Dense(100000, 100000), ValueError, r"would have 10000000000 parameters"),
    (lambda: nn.Conv2D(1, 1, 3, stride=2**62), ValueError, r"Conv2D: stride must be in \[1, 65536\]"),
    (lambda: nn.Conv2D(1, 1, 3, padding=2**63), ValueError, r"Conv2D: padding must be in \[0, 65536\]"),
    (lambda: nn.Conv2D(1, 1, (3, 3, 3)), ValueError, "Conv2D: kernel_size must be an int or a pair of ints"),
    (lambda: nn.MaxPool2D(2**40), ValueError, r"MaxPool2D: kernel_size must be in \[1, 65536\]"),
    (lambda: nn.AvgPool2D(2, padding=2), ValueError, "AvgPool2D: padding must be at most half the kernel size"),
])
def test_layer_sizes_are_checked_without_overflow(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_zero_d_integer_arrays_count_as_integers():
    assert nn.Dense(np.array(3), np.int64(2)).kernel_shape() == (3, 2)


@pytest.mark.parametrize("scale,opt", [(1e300, lambda: optim.RMSprop(lr=1.0, alpha=0.5)),
                                       (1e152, lambda: optim.SGD(lr=1e5))], ids=["loss", "update"])
def test_train_step_that_would_overflow_is_undone(scale, opt):
    # 1e300: the loss overflows; 1e152: the loss is finite but the update is not.
    net = pydl.Network([nn.Conv2D(1, 1, 1), nn.ReLU(), nn.Flatten(), nn.Dense(9, 1)], loss="mse",
                       optimizer=opt(), dtype=np.float64, seed=0)
    x = np.abs(np.random.default_rng(0).normal(size=(1, 1, 3, 3))) * scale
    weights, steps = _state(net)
    with pytest.raises(DivergenceError, match="train_step: training diverged: .*last finite step"):
        net.train_step(x, np.zeros(1))
    assert net.optimizer.steps == steps
    for w, p in zip(weights, net.parameters()):
        np.testing.assert_array_equal(w, p.data)


@pytest.mark.parametrize("call,error,match", [
    (lambda net, x, y: net.fit(x, y, epochs=2**62, verbose=0), ValueError, r"fit: epochs must be an integer in \[0, "),
    (lambda net, x, y: net.fit(x, y, epochs=1, seed=-1, verbose=0), ValueError, "fit: seed must be a non-negative"),
    (lambda net, x, y: net.fit(x, y, epochs=1, seed=1.5, verbose=0), TypeError, "fit: seed must be a non-negative"),
    (lambda net, x, y: pydl.Network([nn.Dense(2, 1)], seed="a"), TypeError, "Network: seed must be"),
    (lambda net, x, y: pydl.Network([nn.Flatten()], input_shape=(10**30,)), ValueError,
     r"Network: input_shape\[0\] must be in \[1, 2147483648\]"),
    (lambda net, x, y: net.summary(input_shape=(2.5,)), TypeError, r"summary: input_shape\[0\] must be an integer"),
    (lambda net, x, y: pydl.gradcheck(net, x, y, eps=float("nan")), ValueError, "gradcheck: eps must be finite"),
    (lambda net, x, y: pydl.gradcheck(net, x, y, eps=10**400), ValueError, "gradcheck: eps must be finite"),
    (lambda net, x, y: pydl.set_num_threads(10**30), ValueError, r"set_num_threads: n must be in \[1, 1024\]"),
    (lambda net, x, y: pydl.set_num_threads(2.5), TypeError, "set_num_threads: n must be an integer"),
    (lambda net, x, y: nn.Sigmoid(clip="0.1"), TypeError, "Sigmoid: clip must be a real number, got str"),
])
def test_absurd_or_mistyped_api_arguments_are_named(call, error, match):
    x, y = _data()
    net = _net(lr=0.1)
    weights, steps = _state(net)
    with pytest.raises(error, match=match):
        call(net, x, y)
    assert net.optimizer.steps == steps and all(np.array_equal(w, p.data) for w, p in zip(weights, net.parameters()))


def test_a_network_seeded_with_a_generator_saves(tmp_path):
    net = pydl.Network([nn.Dense(2, 1)], seed=np.random.default_rng(1))
    net.save(tmp_path / "net.npz")
    assert pydl.load(tmp_path / "net.npz").seed is None
