"""Training with issue 13's layers: the plan and step-by-step training agree to 1e-12 with Dropout and
BatchNorm in the network, resuming equals uninterrupted training bit for bit, a DD2424-style network with
batch norm trains in the plan, and a diverging step keeps the running statistics of the last finite one."""
import numpy as np
import pytest

import pydl
from pydl import nn, optim

F64 = "float64"


def _x(shape, seed=0, scale=1.0, shift=0.0):
    return np.random.default_rng(seed).normal(shift, scale, size=shape)


# ---- the plan and step-by-step training agree -----------------------------------------------------

def _mlp():
    return pydl.Network([nn.Dense(6, 16), nn.BatchNorm1d(16), nn.LeakyReLU(0.1), nn.Dropout(0.3),
                         nn.Dense(16, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2), nn.Dense(8, 3)],
                        loss="cross_entropy", optimizer=optim.AdamW(lr=0.01), dtype=F64, seed=11)


def _cnn():
    return pydl.Network([nn.Conv2D(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2D(2),
                         nn.Flatten(), nn.Dropout(0.25), nn.Dense(4 * 3 * 3, 3)],
                        loss="cross_entropy", optimizer=optim.SGD(lr=0.05, momentum=0.9), dtype=F64, seed=5)


@pytest.mark.parametrize("batch_size", [5, 8, "full"])
@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_plan_and_step_by_step_training_agree_with_dropout_and_batch_norm(model, batch_size):
    make, shape = {"mlp": (_mlp, (40, 6)), "cnn": (_cnn, (24, 2, 6, 6))}[model]
    x, y = _x(shape), np.arange(shape[0]) % 3
    nets = []
    for native in (True, False):
        net = make()
        net.native = native
        net.fit(x, y, epochs=3, batch_size=batch_size, verbose=0)
        nets.append(net)
    planned, stepped = nets
    assert pydl.plan.TrainingPlan.for_network(planned) is not None
    for (name, a), (_, b) in zip(planned.named_parameters(), stepped.named_parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=0, atol=1e-12, err_msg=name)
    for (name, a), (_, b) in zip(planned.named_buffers(), stepped.named_buffers()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(planned.predict_proba(x), stepped.predict_proba(x), atol=1e-12)


@pytest.mark.parametrize("native", [True, False], ids=["plan", "step by step"])
def test_resumed_training_with_dropout_and_batch_norm_equals_uninterrupted_training(native, tmp_path):
    x, y = _x((40, 6)), np.arange(40) % 3
    whole = _mlp()
    whole.native = native
    whole.fit(x, y, epochs=4, batch_size=8, verbose=0)  # no seed: the network's generator shuffles and drops
    first = _mlp()
    first.native = native
    first.fit(x, y, epochs=2, batch_size=8, verbose=0)
    first.save(tmp_path / "half.npz", include_optimizer=True)
    resumed = pydl.load(tmp_path / "half.npz")
    resumed.native = native
    resumed.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for (name, a), (_, b) in zip(whole.named_parameters(), resumed.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)
    for (name, a), (_, b) in zip(whole.named_buffers(), resumed.named_buffers()):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_train_step_draws_dropout_seeds_from_the_network_generator():
    x, y = _x((8, 6)), np.arange(8) % 3
    a, b = _mlp(), _mlp()
    a.train_step(x, y)
    b.train_step(x, y)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


def test_a_dd2424_style_network_with_batch_norm_trains_in_the_plan():
    rng = np.random.default_rng(0)
    n, d = 400, 3 * 32 * 32
    y = rng.integers(0, 10, n)
    centers = rng.normal(size=(10, d))
    x = centers[y] + 2.0 * rng.normal(size=(n, d))
    net = pydl.Network([nn.Dense(d, 50, init="he_normal"), nn.BatchNorm1d(50), nn.ReLU(),
                        nn.Dense(50, 50, init="he_normal"), nn.BatchNorm1d(50), nn.ReLU(), nn.Dense(50, 10)],
                       loss="cross_entropy", optimizer=optim.SGD(lr=0.05, momentum=0.9), l2=0.005, seed=1)
    history = net.fit(x, y, epochs=5, batch_size=100, verbose=0)
    assert pydl.plan.TrainingPlan.for_network(net) is not None
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert net.evaluate(x, y)["accuracy"] > 0.9


def test_a_diverging_step_leaves_the_running_statistics_of_the_last_finite_step():
    net = pydl.Network([nn.Dense(2, 3), nn.BatchNorm1d(3), nn.Dense(3, 1)], loss="mse", optimizer="sgd", dtype=F64,
                       seed=0)
    x, y = _x((4, 2)), np.ones(4)
    net.train_step(x, y)
    kept = [a.copy() for _, a in net.named_buffers()]
    net.layers[2].params["W"][...] = 1e200  # the next loss overflows, after batch norm's forward ran
    with pytest.raises(pydl.training.DivergenceError, match="the loss is inf"):
        net.train_step(x, y)
    for (name, a), b in zip(net.named_buffers(), kept):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_a_data_loader_trains_dropout_and_batch_norm_alike_in_the_plan_and_step_by_step():
    from pydl.data import DataLoader

    x, y = _x((40, 6)), np.arange(40) % 3
    nets = []
    for native in (True, False):
        net = _mlp()
        net.native = native
        net.fit(DataLoader(x, y, batch_size=8, seed=5), epochs=2, verbose=0)
        nets.append(net)
    for (name, a), (_, b) in zip(nets[0].named_parameters(), nets[1].named_parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=0, atol=1e-12, err_msg=name)
    for (name, a), (_, b) in zip(nets[0].named_buffers(), nets[1].named_buffers()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12, err_msg=name)
