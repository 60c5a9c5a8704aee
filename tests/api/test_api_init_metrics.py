"""pydl.init initializers and pydl.metrics.accuracy."""
import math

import numpy as np
import pytest

from pydl import init, metrics, nn


def draw(initializer, shape=(400, 300), fan_in=400, fan_out=300, seed=0):
    return initializer(shape, fan_in, fan_out, np.random.default_rng(seed))


def test_zeros_and_constant():
    assert not draw(init.zeros()).any()
    assert (draw(init.constant(0.5)) == 0.5).all()


def test_normal_has_the_requested_std():
    assert draw(init.normal(std=0.01)).std() == pytest.approx(0.01, rel=0.02)


def test_uniform_stays_in_its_bounds():
    w = draw(init.uniform(-0.1, 0.2))
    assert w.min() >= -0.1 and w.max() < 0.2


@pytest.mark.parametrize("name,std", [
    ("xavier_normal", math.sqrt(2 / 700)), ("xavier_uniform", math.sqrt(2 / 700)),
    ("he_normal", math.sqrt(2 / 400)), ("he_uniform", math.sqrt(2 / 400)),
])
def test_scaled_initializers_have_the_textbook_std(name, std):
    assert draw(init.get(name)).std() == pytest.approx(std, rel=0.02)


def test_glorot_names_are_xavier():
    assert init.glorot_uniform is init.xavier_uniform and type(init.get("glorot_normal")) is init.xavier_normal


def test_same_seed_same_values():
    np.testing.assert_array_equal(draw(init.he_normal(), seed=3), draw(init.he_normal(), seed=3))


def test_layers_accept_an_initializer_object_or_name():
    assert (nn.Dense(2, 3, init=init.constant(0.25)).params["W"] == 0.25).all()
    assert nn.Dense(2, 3, init="zeros").params["W"].sum() == 0


def test_unknown_initializer_name():
    with pytest.raises(ValueError, match="unknown initializer 'kaiming'"):
        nn.Dense(2, 3, init="kaiming")


def test_binary_accuracy_thresholds_probabilities_at_one_half():
    assert metrics.accuracy(np.array([0, 1, 1, 0]), np.array([[0.2], [0.6], [0.4], [0.5]])) == 0.75


def test_multiclass_accuracy_takes_the_argmax():
    assert metrics.accuracy(np.array([2, 0]), np.array([[0.1, 0.2, 0.7], [0.5, 0.4, 0.1]])) == 1.0


def test_one_hot_labels_are_accepted():
    assert metrics.accuracy(np.eye(3)[[2, 0]], np.array([2, 1])) == 0.5


def test_accuracy_length_mismatch():
    with pytest.raises(ValueError, match="accuracy: 2 true labels but 3 predictions"):
        metrics.accuracy([0, 1], [0, 1, 1])
