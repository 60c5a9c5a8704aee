"""Analytic gradients agree with centered differences in float64 (max relative error < 1e-6)."""
import numpy as np
import pytest

import pydl
from pydl import losses, nn
from pydl.gradcheck import rel_error

TOL = 1e-6


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def assert_all_small(errors):
    assert errors and max(errors.values()) < TOL, errors


def test_rel_error_is_cs231n_elementwise_max():
    assert rel_error([1.0, 0.0], [1.0, 0.0]) == 0.0
    assert rel_error([1.0, 2.0], [1.0, 3.0]) == pytest.approx(1 / 5)


LAYER_CASES = [
    ("Dense", lambda: nn.Dense(4, 3, seed=1), (5, 4)),
    ("Dense without bias", lambda: nn.Dense(4, 3, bias=False, seed=1), (5, 4)),
    ("Dense+relu", lambda: nn.Dense(4, 3, activation="relu", seed=1), (5, 4)),
    ("Dense+sigmoid", lambda: nn.Dense(4, 3, activation="sigmoid", seed=1), (5, 4)),
    ("Dense+tanh", lambda: nn.Dense(4, 3, activation="tanh", seed=1), (5, 4)),
    ("Conv2D", lambda: nn.Conv2D(2, 3, 3, seed=1), (2, 2, 5, 5)),
    ("Conv2D stride 2 padding 1", lambda: nn.Conv2D(2, 3, (3, 2), stride=2, padding=1, seed=1), (2, 2, 5, 6)),
    ("Conv2D+relu", lambda: nn.Conv2D(2, 3, 3, padding=1, activation="relu", seed=1), (2, 2, 5, 5)),
    ("Conv2D whole-input kernel", lambda: nn.Conv2D(1, 3, (1, 2), seed=1), (4, 1, 1, 2)),
    ("MaxPool2D", lambda: nn.MaxPool2D(2), (2, 2, 4, 4)),
    ("MaxPool2D overlapping", lambda: nn.MaxPool2D(3, stride=2, padding=1), (2, 1, 5, 5)),
    ("AvgPool2D", lambda: nn.AvgPool2D(2, stride=1), (2, 2, 4, 4)),
    ("Flatten", lambda: nn.Flatten(), (2, 2, 3, 3)),
    ("Sigmoid", lambda: nn.Sigmoid(), (4, 5)),
    ("Sigmoid with clip", lambda: nn.Sigmoid(clip=1e-7), (4, 5)),
    ("ReLU", lambda: nn.ReLU(), (4, 5)),
    ("Tanh", lambda: nn.Tanh(), (4, 5)),
    ("Softmax", lambda: nn.Softmax(), (4, 5)),
]


@pytest.mark.parametrize("make,shape", [c[1:] for c in LAYER_CASES], ids=[c[0] for c in LAYER_CASES])
def test_layer(make, shape, rng):
    x = rng.standard_normal(shape)
    assert_all_small(pydl.gradcheck(make(), x))


LOSS_CASES = [
    ("mse", lambda r: (r.standard_normal((4, 3)), r.standard_normal((4, 3)))),
    ("bce", lambda r: (r.uniform(0.1, 0.9, (4, 1)), r.integers(0, 2, (4, 1)).astype(float))),
    ("bce_with_logits", lambda r: (r.standard_normal((4, 2)), r.uniform(0, 1, (4, 2)))),
    ("cross_entropy", lambda r: (r.standard_normal((4, 3)), np.array([0, 2, 1, 2]))),
    ("multi_bce", lambda r: (r.standard_normal((4, 3)), np.array([0, 2, 1, 2]))),
]


@pytest.mark.parametrize("name,make", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss(name, make, rng):
    x, y = make(rng)
    assert_all_small(pydl.gradcheck(losses.get(name), x, y))


@pytest.mark.parametrize("act", [nn.Sigmoid, nn.ReLU, nn.Tanh])
def test_three_layer_network_with_each_activation(act, rng):
    net = pydl.Network([nn.Dense(3, 5), act(), nn.Dense(5, 4), act(), nn.Dense(4, 3)], loss="cross_entropy", seed=2)
    x, y = rng.standard_normal((6, 3)), rng.integers(0, 3, 6)
    errors = pydl.gradcheck(net, x, y)
    assert set(errors) == {"layer0.W", "layer0.b", "layer2.W", "layer2.b", "layer4.W", "layer4.b", "input"}
    assert_all_small(errors)


def test_sigmoid_bce_network_of_report_000(rng):
    net = pydl.Network([nn.Dense(2, 3), nn.Sigmoid(), nn.Dense(3, 1), nn.Sigmoid()], loss="bce", seed=3)
    x, y = rng.uniform(-2, 2, (8, 2)), rng.integers(0, 2, 8)
    assert_all_small(pydl.gradcheck(net, x, y))


def test_small_conv_network(rng):
    net = pydl.Network([nn.Conv2D(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2D(2), nn.Flatten(), nn.Dense(8, 3)],
                       loss="cross_entropy", seed=4)
    x, y = rng.standard_normal((3, 1, 4, 4)), np.array([0, 2, 1])
    assert_all_small(pydl.gradcheck(net, x, y))


def test_network_without_targets_checks_a_random_projection(rng):
    net = pydl.Network([nn.Dense(3, 2), nn.Tanh()], seed=5)
    assert_all_small(pydl.gradcheck(net, rng.standard_normal((4, 3))))


def test_gradcheck_runs_on_a_float64_copy_and_leaves_the_model_alone(rng):
    net = pydl.Network([nn.Dense(3, 2)], loss="mse", seed=6)
    before = net.layers[0].params["W"].copy()
    pydl.gradcheck(net, rng.standard_normal((4, 3)), rng.standard_normal((4, 2)))
    assert net.dtype == np.float32
    np.testing.assert_array_equal(net.layers[0].params["W"], before)


class _WrongTanh(nn.Tanh):
    def backward(self, dy, need_dx=True):
        return 1.01 * super().backward(dy, need_dx)


def test_a_wrong_gradient_is_reported(rng):
    errors = pydl.gradcheck(_WrongTanh(), rng.standard_normal((3, 4)))
    assert errors["input"] > 1e-3
