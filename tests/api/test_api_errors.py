"""Bad input to the API raises a clear ValueError/TypeError before any work starts."""
import numpy as np
import pytest

import pydl
from pydl import nn, optim


@pytest.fixture
def net():
    return pydl.Network([nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 3)], loss="cross_entropy",
                        optimizer=optim.SGD(lr=0.1), seed=0)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((10, 2)), rng.integers(0, 3, 10)


def weights(net):
    return [p.data.copy() for p in net.parameters()]


@pytest.mark.parametrize("kwargs,message", [
    ({"epochs": -1}, r"epochs must be an integer in \[0, 1000000000\], got -1"),
    ({"epochs": 2.5}, r"epochs must be an integer in \[0, 1000000000\], got 2.5"),
    ({"batch_size": 0}, r"batch_size must be a positive integer, None \(32\) or \"full\", got 0"),
    ({"validation_split": 1.0}, r"validation_split must lie in \[0, 1\), got 1.0"),
    ({"validation_split": 0.01}, "leaves an empty training or validation set"),
    ({"validation_data": (np.zeros((2, 2)),)}, r"validation_data must be a pair \(x_val, y_val\)"),
    ({"validation_data": (np.zeros((2, 3)), np.zeros(2, int))}, r"validation_data: Dense\(2, 3\): expected input"),
    ({"verbose": 3}, "verbose must be None, 0, 1 or 2, got 3"),
])
def test_bad_fit_arguments_raise_value_error_and_leave_weights_alone(net, data, kwargs, message):
    before = weights(net)
    with pytest.raises(ValueError, match=message):
        net.fit(*data, **{"epochs": 1, "verbose": 0, **kwargs})
    for a, b in zip(before, weights(net)):
        np.testing.assert_array_equal(a, b)


def test_wrong_input_width_names_the_layer_and_the_shapes(net, data):
    with pytest.raises(ValueError, match=r"fit: Dense\(2, 3\): expected input of shape \(N, 2\), got \(N, 5\)"):
        net.fit(np.zeros((10, 5)), data[1], verbose=0)


def test_wrong_conv_channels_are_reported(data):
    conv = pydl.Network([nn.Conv2D(3, 2, 3)])
    with pytest.raises(ValueError, match="expected 3 input channels, got input"):
        conv.predict(np.zeros((1, 1, 5, 5)))


def test_kernel_larger_than_input_is_reported():
    conv = pydl.Network([nn.Conv2D(1, 1, 5)])
    with pytest.raises(ValueError, match=r"kernel \(5, 5\) does not fit input 3x3"):
        conv.predict(np.zeros((1, 1, 3, 3)))


def test_labels_out_of_range(net, data):
    with pytest.raises(ValueError, match=r"fit: CrossEntropyLoss\(\): labels must lie in \[0, 2\] for 3 classes"):
        net.fit(data[0], np.full(10, 3), verbose=0)


def test_y_of_wrong_length(net, data):
    with pytest.raises(ValueError, match="fit: y has 9 samples but x has 10"):
        net.fit(data[0], data[1][:9], verbose=0)


def test_nan_in_x(net, data):
    x = data[0].copy()
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match="fit: x contains NaN or infinity"):
        net.fit(x, data[1], verbose=0)


def test_nan_in_y_for_an_elementwise_loss():
    net = pydl.Network([nn.Dense(2, 1)], loss="mse", optimizer="sgd")
    with pytest.raises(ValueError, match="evaluate: y contains NaN"):
        net.evaluate(np.zeros((2, 2)), np.array([0.0, np.nan]))


def test_non_numeric_x_is_a_type_error(net):
    with pytest.raises(TypeError, match="predict: x must be a numeric array, got dtype <U1"):
        net.predict(np.array([["a", "b"]]))


def test_x_without_a_batch_dimension(net):
    with pytest.raises(ValueError, match=r"predict: x must have shape \(N, features...\), got \(2,\)"):
        net.predict(np.zeros(2))


def test_empty_x(net):
    with pytest.raises(ValueError, match="predict: x is empty"):
        net.predict(np.zeros((0, 2)))


def test_unknown_loss_name():
    with pytest.raises(ValueError, match="unknown loss 'crossentropyy'"):
        pydl.Network([nn.Dense(2, 1)], loss="crossentropyy")


def test_unknown_optimizer_name():
    with pytest.raises(ValueError, match="unknown optimizer 'adamx'; known: adam, adamw, rmsprop, sgd"):
        pydl.Network([nn.Dense(2, 1)], optimizer="adamx")


def test_fit_without_an_optimizer():
    net = pydl.Network([nn.Dense(2, 1)], loss="mse")
    with pytest.raises(RuntimeError, match="fit: no optimizer; pass optimizer= to Network or call compile"):
        net.fit(np.zeros((2, 2)), np.zeros(2), verbose=0)


def test_evaluate_without_a_loss():
    with pytest.raises(RuntimeError, match="evaluate: no loss"):
        pydl.Network([nn.Dense(2, 1)]).evaluate(np.zeros((2, 2)), np.zeros(2))


def test_non_layer_in_the_layer_list():
    with pytest.raises(TypeError, match="Network: layer 1 is a str, not a pydl.nn.Layer"):
        pydl.Network([nn.Dense(2, 1), "relu"])


def test_unsupported_dtype():
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got float16"):
        pydl.Network([nn.Dense(2, 1)], dtype="float16")


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'tpu'; known: 'cpu' .*'cuda'.*'cuda-sim'.*'numpy'"):
        pydl.Network([nn.Dense(2, 1)], backend="tpu")


def test_callback_of_the_wrong_type(net, data):
    with pytest.raises(TypeError, match="fit: callbacks must be pydl.callbacks.Callback objects, got builtin_function"):
        net.fit(*data, verbose=0, callbacks=[print])


def test_unknown_fused_activation():
    with pytest.raises(ValueError, match="Dense: activation must be one of"):
        nn.Dense(2, 1, activation="gelu")


def test_sigmoid_clip_out_of_range():
    with pytest.raises(ValueError, match=r"Sigmoid: clip must be finite and in \(0, 0.5\), got 0.7"):
        nn.Sigmoid(clip=0.7)


def test_negative_l2():
    with pytest.raises(ValueError, match=r"l2 must be finite and in \[0, 1e\+06\], got -0.1"):
        pydl.Network([nn.Dense(2, 1)], l2=-0.1)
