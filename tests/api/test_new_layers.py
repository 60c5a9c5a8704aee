"""Issue 13's layers and optimizer: LeakyReLU, AdamW, Dropout, BatchNorm1d/2d.

Each is specified by its gradients (pydl.gradcheck in training mode), by PyTorch (optional: skipped without
torch) to 1e-10 in float64, by the training plan agreeing with step-by-step training to 1e-12, and by
save/load, resume, summary, repr and argument errors.
"""
import numpy as np
import pytest

import pydl
from pydl import nn, optim

F64 = "float64"


def _x(shape, seed=0, scale=1.0, shift=0.0):
    return np.random.default_rng(seed).normal(shift, scale, size=shape)


# ---- gradients (training mode) ------------------------------------------------------------------

@pytest.mark.parametrize("layer, shape", [
    (lambda: nn.LeakyReLU(0.1), (4, 5)),
    (lambda: nn.Dropout(0.3), (4, 5)),
    (lambda: nn.BatchNorm1d(5), (6, 5)),
    (lambda: nn.BatchNorm1d(3), (4, 3, 2)),
    (lambda: nn.BatchNorm2d(3), (2, 3, 2, 3)),
], ids=["leaky_relu", "dropout", "batchnorm1d", "batchnorm1d (N, C, L)", "batchnorm2d"])
def test_gradients_of_every_new_layer_match_centered_differences_in_training_mode(layer, shape):
    errors = pydl.gradcheck(layer(), _x(shape, seed=1, shift=0.3))  # seed 0 would give R = x - 0.3
    assert max(errors.values()) < 1e-6, errors


def test_a_network_with_dropout_and_batch_norm_passes_gradcheck():
    net = pydl.Network([nn.Dense(4, 6), nn.BatchNorm1d(6), nn.LeakyReLU(), nn.Dropout(0.25), nn.Dense(6, 3)],
                       loss="cross_entropy", dtype=F64, seed=0)
    errors = pydl.gradcheck(net, _x((8, 4)), np.arange(8) % 3)
    assert max(errors.values()) < 1e-6, errors


# ---- behaviour ----------------------------------------------------------------------------------

def test_dropout_is_inverted_in_training_and_the_identity_in_eval():
    layer = nn.Dropout(0.25, dtype=F64)
    x = np.ones((200, 50))
    y = layer(x)
    assert set(np.unique(y)) <= {0.0, 1 / 0.75}
    assert abs((y == 0).mean() - 0.25) < 0.02
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), y)
    layer.eval()
    assert layer(x) is x


def test_dropout_masks_depend_only_on_the_seed_and_the_element_index():
    x = _x((7, 9))
    y1, m1 = pydl.kernels.dropout_forward(x, 0.5, 123)
    y2, m2 = pydl.reference.dropout_forward(x, 0.5, 123)
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(pydl.kernels.dropout_forward(x.reshape(-1), 0.5, 123)[1], m1.reshape(-1))
    assert not np.array_equal(pydl.kernels.dropout_forward(x, 0.5, 124)[1], m1)


@pytest.mark.parametrize("n", [1, 2, 7, (1 << 18) + 1])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_masks_are_the_twins_at_every_simd_level_and_thread_count(n, dtype, simd_level, threads):
    x = np.ones(n, dtype=dtype)
    np.testing.assert_array_equal(pydl.kernels.dropout_forward(x, 0.3, 2**63 - 1)[1],
                                  pydl.reference.dropout_forward(x, 0.3, 2**63 - 1)[1])


@pytest.mark.parametrize("shape", [(2000, 64), (400, 32, 50)])  # large enough for two threads
def test_batch_norm_gives_the_same_bits_on_one_thread_and_on_two(shape):
    x = _x(shape, scale=3.0, shift=1.0)
    c = shape[1]

    def run():
        out = pydl.kernels.batch_norm_forward(x, np.ones(c), np.zeros(c), np.zeros(c), np.ones(c))
        return out + pydl.kernels.batch_norm_backward(x, np.ones(c), x, out[1], out[2])

    before = pydl.get_num_threads()
    try:
        pydl.set_num_threads(1)
        one = run()
        pydl.set_num_threads(2)
        two = run()
    finally:
        pydl.set_num_threads(before)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    ref = pydl.reference.batch_norm_forward(x, np.ones(c), np.zeros(c), np.zeros(c), np.ones(c))
    for a, b in zip(one, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_batch_norm_uses_batch_statistics_in_training_and_running_ones_in_eval():
    layer = nn.BatchNorm1d(3, dtype=F64)
    x = _x((50, 3), scale=2.0, shift=5.0)
    y = layer(x)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=0), 1, rtol=1e-4)
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.1 * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.buffers["running_var"], 0.9 + 0.1 * x.var(axis=0, ddof=1), rtol=1e-12)
    layer.eval()
    rm, rv = layer.buffers["running_mean"], layer.buffers["running_var"]
    np.testing.assert_allclose(layer(x), (x - rm) / np.sqrt(rv + 1e-5), rtol=1e-12)


def test_running_statistics_are_buffers_the_optimizer_never_touches():
    net = pydl.Network([nn.Dense(3, 4), nn.BatchNorm1d(4), nn.Dense(4, 2)], loss="cross_entropy",
                       optimizer=optim.AdamW(lr=0.1), dtype=F64, seed=0)
    assert [name for name, _ in net.named_parameters()] == ["layer0.W", "layer0.b", "layer1.gamma", "layer1.beta",
                                                             "layer2.W", "layer2.b"]
    assert [name for name, _ in net.named_buffers()] == ["layer1.running_mean", "layer1.running_var"]
    assert not any(a is b for _, a in net.named_buffers() for p in net.parameters() for b in (p.data, p.grad))


def test_fit_refuses_a_batch_that_gives_batch_norm_a_single_value_per_channel():
    net = pydl.Network([nn.Dense(3, 4), nn.BatchNorm1d(4), nn.Dense(4, 2)], loss="cross_entropy", optimizer="sgd",
                       dtype=F64, seed=0)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        net.fit(_x((9, 3)), np.arange(9) % 2, batch_size=4, verbose=0)  # the last batch has one sample


def test_leaky_relu_has_the_slope_below_zero_and_at_zero():
    layer = nn.LeakyReLU(0.2, dtype=F64)
    x = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(layer(x), [[-0.4, 0.0, 3.0]])
    np.testing.assert_array_equal(layer.backward(np.ones((1, 3))), [[0.2, 0.2, 1.0]])


def test_adamw_decays_weights_decoupled_from_the_gradient():
    p = nn.Parameter("w", np.full(3, 2.0), regularizable=True)
    opt = optim.AdamW([p], lr=0.1, weight_decay=0.5)
    opt.step()  # zero gradient: only the decay moves the weights
    np.testing.assert_allclose(p.data, 2.0 * (1 - 0.1 * 0.5), rtol=1e-15)
    assert optim.get("adamw").get_config() == {"lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01}


# ---- the API: config, save/load, summary, repr, errors -----------------------------------------------

def _everything(opt="adamw", dropout=0.2):
    return pydl.Network([nn.Dense(6, 8), nn.BatchNorm1d(8, momentum=0.2), nn.LeakyReLU(0.05), nn.Dropout(dropout),
                         nn.Dense(8, 3)], loss="cross_entropy", optimizer=opt, dtype=F64, seed=3)


def test_new_layers_and_adamw_round_trip_through_save_and_load(tmp_path):
    net = _everything(optim.AdamW(lr=0.01, weight_decay=0.3))
    net.fit(_x((32, 6)), np.arange(32) % 3, epochs=2, batch_size=8, verbose=0)
    net.save(tmp_path / "net.npz")
    loaded = pydl.load(tmp_path / "net.npz")
    assert repr(loaded) == repr(net)
    assert type(loaded.optimizer) is optim.AdamW and loaded.optimizer.weight_decay == 0.3
    for (name, a), (_, b) in zip(net.named_buffers() + [(n, p.data) for n, p in net.named_parameters()],
                                 loaded.named_buffers() + [(n, p.data) for n, p in loaded.named_parameters()]):
        np.testing.assert_array_equal(a, b, err_msg=name)
    x = _x((5, 6), seed=1)
    np.testing.assert_array_equal(loaded.predict_proba(x), net.predict_proba(x))


def test_a_file_with_running_statistics_of_the_wrong_shape_is_refused(tmp_path):
    arrays = pydl.serialization.to_arrays(_everything())
    arrays["layer1.running_var"] = np.ones(5)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="running_var"):
        pydl.load(tmp_path / "bad.npz")


def test_summary_and_repr_show_the_new_layers():
    net = pydl.Network([nn.Conv2D(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.LeakyReLU(), nn.Flatten(),
                        nn.Dropout(0.1), nn.Dense(4 * 8 * 8, 10)], input_shape=(3, 8, 8))
    text = net.summary(print_fn=None)
    assert "BatchNorm2d" in text and "(4, 8, 8)" in text and "LeakyReLU" in text and "Dropout" in text
    assert repr(nn.BatchNorm1d(5, eps=1e-3)) == "BatchNorm1d(5, eps=0.001)"
    assert repr(nn.Dropout(0.2)) == "Dropout(p=0.2)" and repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert nn.BatchNorm2d(4).num_params() == 8


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.Dropout(1.0), ValueError, "Dropout: p must be finite and in \\[0, 1\\)"),
    (lambda: nn.Dropout("0.5"), TypeError, "Dropout: p must be a real number"),
    (lambda: nn.LeakyReLU(-0.1), ValueError, "LeakyReLU: negative_slope"),
    (lambda: nn.BatchNorm1d(0), ValueError, "BatchNorm1d: num_features"),
    (lambda: nn.BatchNorm2d(3, momentum=1.5), ValueError, "BatchNorm2d: momentum"),
    (lambda: nn.BatchNorm2d(3, eps=0), ValueError, "BatchNorm2d: eps"),
    (lambda: optim.AdamW(weight_decay=-1), ValueError, "AdamW: weight_decay"),
    (lambda: pydl.Network([nn.Dense(3, 4), nn.BatchNorm2d(4)]), ValueError, "expected input of shape \\(N, 4, H, W\\)"),
    (lambda: pydl.Network([nn.Dense(3, 4), nn.BatchNorm1d(5)]), ValueError, "expected input of shape \\(N, 5\\)"),
])
def test_bad_arguments_raise_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_model_checks_look_through_dropout_to_the_layer_before():
    with pytest.raises(ValueError, match="outputs probabilities"):
        pydl.Network([nn.Dense(3, 2), nn.Sigmoid(), nn.Dropout(0.1)], loss="bce_with_logits")
    pydl.Network([nn.Dense(3, 2), nn.BatchNorm1d(2)], loss="bce_with_logits")
