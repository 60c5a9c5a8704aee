"""pydl.nn layers: forward results, caches, parameters, modes, dtypes and repr."""
import numpy as np
import pytest

from pydl import nn


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_dense_is_x_at_w_plus_b_with_w_stored_in_by_out(rng):
    layer = nn.Dense(4, 3, dtype="float64", seed=0)
    layer.params["b"][...] = [1.0, 2.0, 3.0]
    x = rng.standard_normal((5, 4))
    assert layer.params["W"].shape == (4, 3)
    np.testing.assert_allclose(layer.forward(x), x @ layer.params["W"] + layer.params["b"])


def test_dense_gradients_land_in_grads(rng):
    layer = nn.Dense(4, 3, dtype="float64", seed=0)
    x, dy = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    layer.forward(x)
    dx = layer.backward(dy)
    np.testing.assert_allclose(layer.grads["W"], x.T @ dy)
    np.testing.assert_allclose(layer.grads["b"], dy.sum(axis=0))
    np.testing.assert_allclose(dx, dy @ layer.params["W"].T)


def test_dense_without_bias_has_only_a_weight():
    layer = nn.Dense(4, 3, bias=False)
    assert list(layer.params) == ["W"] and layer.num_params() == 12


@pytest.mark.parametrize("act,layer", [("relu", nn.ReLU), ("sigmoid", nn.Sigmoid), ("tanh", nn.Tanh)])
def test_fused_activation_equals_a_separate_layer(act, layer, rng):
    x = rng.standard_normal((6, 4)).astype(np.float32)
    fused = nn.Dense(4, 3, activation=act, seed=1)
    plain = nn.Dense(4, 3, seed=1)
    np.testing.assert_allclose(fused.forward(x), layer().forward(plain.forward(x)), rtol=1e-6, atol=1e-7)


def test_conv_fused_relu_equals_a_separate_relu_layer_forward_and_backward(rng):
    x = rng.standard_normal((3, 2, 6, 5))
    fused = nn.Conv2D(2, 4, 3, padding=1, activation="relu", dtype="float64", seed=1)
    plain, relu = nn.Conv2D(2, 4, 3, padding=1, dtype="float64", seed=1), nn.ReLU(dtype="float64")
    y = fused.forward(x)
    np.testing.assert_array_equal(y, relu.forward(plain.forward(x)))
    dy = rng.standard_normal(y.shape)
    np.testing.assert_array_equal(fused.backward(dy), plain.backward(relu.backward(dy)))
    for name in ("W", "b"):
        np.testing.assert_array_equal(fused.grads[name], plain.grads[name])


def test_conv_activation_is_relu_or_none():
    assert nn.Conv2D(1, 2, 3, activation="ReLU").activation == "relu"
    assert nn.Conv2D(1, 2, 3).activation == "none"
    with pytest.raises(ValueError, match="Conv2D: activation must be one of \\('none', 'relu'\\) or None"):
        nn.Conv2D(1, 2, 3, activation="sigmoid")


def test_conv_with_a_whole_input_kernel_is_report_004s_dense_layer(rng):
    conv = nn.Conv2D(1, 3, (1, 2), dtype="float64", seed=0)
    x = rng.standard_normal((5, 1, 1, 2))
    y = conv.forward(x)
    assert conv.output_shape((1, 1, 2)) == (3, 1, 1) and y.shape == (5, 3, 1, 1)
    w = conv.params["W"].reshape(3, 2).T
    np.testing.assert_allclose(y.reshape(5, 3), x.reshape(5, 2) @ w)


def test_conv_output_shape_follows_stride_and_padding():
    assert nn.Conv2D(3, 8, 3, stride=2, padding=1).output_shape((3, 32, 32)) == (8, 16, 16)


def test_pooling_stride_defaults_to_the_kernel_size(rng):
    x = rng.standard_normal((1, 1, 4, 4))
    y = nn.MaxPool2D(2).forward(x)
    np.testing.assert_array_equal(y[0, 0], x[0, 0].reshape(2, 2, 2, 2).max(axis=(1, 3)))
    np.testing.assert_allclose(nn.AvgPool2D(2).forward(x)[0, 0], x[0, 0].reshape(2, 2, 2, 2).mean(axis=(1, 3)))


def test_flatten_is_a_view_and_backward_restores_the_shape(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    layer = nn.Flatten()
    y = layer.forward(x)
    assert y.shape == (2, 60) and np.shares_memory(x, y)
    assert layer.backward(y).shape == x.shape


def test_sigmoid_clip_bounds_the_output_and_backward_uses_the_clipped_value():
    layer = nn.Sigmoid(clip=0.01, dtype="float64")
    y = layer.forward(np.array([[-20.0, 0.0, 20.0]]))
    np.testing.assert_allclose(y, [[0.01, 0.5, 0.99]])
    np.testing.assert_allclose(layer.backward(np.ones((1, 3))), [[0.01 * 0.99, 0.25, 0.99 * 0.01]])


def test_softmax_rows_sum_to_one(rng):
    np.testing.assert_allclose(nn.Softmax(dtype="float64").forward(rng.standard_normal((3, 4))).sum(axis=1), 1.0)


def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"Dense.backward: call forward in training mode first"):
        nn.Dense(2, 1).backward(np.zeros((1, 1), np.float32))


def test_eval_mode_keeps_no_cache(rng):
    layer = nn.ReLU(dtype="float64").eval()
    layer.forward(rng.standard_normal((2, 2)))
    with pytest.raises(RuntimeError, match="call forward in training mode first"):
        layer.backward(np.ones((2, 2)))


def test_same_seed_same_weights_different_seed_different_weights():
    assert np.array_equal(nn.Dense(3, 4, seed=5).params["W"], nn.Dense(3, 4, seed=5).params["W"])
    assert not np.array_equal(nn.Dense(3, 4, seed=5).params["W"], nn.Dense(3, 4, seed=6).params["W"])


def test_biases_start_at_zero():
    assert not nn.Conv2D(2, 3, 3, seed=0).params["b"].any()


def test_float32_by_default_and_float64_on_request():
    assert nn.Dense(2, 2).params["W"].dtype == np.float32
    assert nn.Dense(2, 2, dtype="float64").params["W"].dtype == np.float64
    assert nn.Dense(2, 2).set_dtype("float64").params["W"].dtype == np.float64


def test_forward_reuses_its_output_buffer_for_the_same_shape(rng):
    layer = nn.Tanh()
    a = layer.forward(rng.standard_normal((2, 3)).astype(np.float32))
    b = layer.forward(rng.standard_normal((2, 3)).astype(np.float32))
    assert a is b


@pytest.mark.parametrize("layer,text", [
    (nn.Dense(2, 3), "Dense(2, 3)"),
    (nn.Dense(2, 3, bias=False, activation="relu", init="he_normal"),
     "Dense(2, 3, bias=False, activation='relu', init='he_normal')"),
    (nn.Conv2D(1, 3, (1, 2)), "Conv2D(1, 3, kernel_size=(1, 2), stride=(1, 1), padding=(0, 0))"),
    (nn.Conv2D(1, 3, 3, padding=1, activation="relu"),
     "Conv2D(1, 3, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), activation='relu')"),
    (nn.MaxPool2D(2), "MaxPool2D(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"),
    (nn.Sigmoid(clip=1e-7), "Sigmoid(clip=1e-07)"),
    (nn.Flatten(), "Flatten()"),
])
def test_repr_reads_like_the_constructor_call(layer, text):
    assert repr(layer) == text


def test_linear_is_dense():
    assert nn.Linear is nn.Dense
