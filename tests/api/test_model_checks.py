"""Models built wrong are refused before the first step, naming the layer and the fix; what Keras and
PyTorch users expect (net(x), manual_seed, accuracy on float labels) holds."""
import numpy as np
import pytest

import pydl
from pydl import nn, optim


def _untrained_weights(net):
    return [p.data.copy() for p in net.parameters()]


@pytest.mark.parametrize("layers,loss,match", [
    (lambda: [nn.Dense(4, 3), nn.Softmax()], "cross_entropy",
     r"layer 1 \(Softmax\) outputs probabilities, but loss 'cross_entropy' takes logits and applies its own softmax.*"
     r"Remove the final Softmax"),
    (lambda: [nn.Dense(4, 3), nn.Softmax(), nn.Flatten()], "cross_entropy", r"layer 1 \(Softmax\)"),
    (lambda: [nn.Dense(4, 3), nn.Sigmoid()], "multi_bce", r"applies its own sigmoid.*Remove the final Sigmoid"),
    (lambda: [nn.Dense(4, 1), nn.Sigmoid()], "bce_with_logits",
     r"layer 1 \(Sigmoid\) outputs probabilities, but loss 'bce_with_logits'"),
    (lambda: [nn.Dense(4, 1, activation="sigmoid")], "bce_with_logits", r"activation='sigmoid' of that Dense"),
    (lambda: [nn.Dense(4, 1)], "bce", r"loss 'bce' takes probabilities in \[0, 1\], but layer 0 \(Dense\) outputs "
                                      r"unbounded values. End the network with Sigmoid\(\).*bce_with_logits"),
    (lambda: [nn.Dense(4, 2), nn.ReLU()], "binary_crossentropy", r"layer 1 \(ReLU\) outputs unbounded"),
])
def test_wrong_output_for_the_loss_is_refused_at_construction(layers, loss, match):
    with pytest.raises(ValueError, match=match):
        pydl.Network(layers(), loss=loss, optimizer="sgd")


def test_wrong_model_compiled_later_is_refused_before_any_step():
    net = pydl.Network([nn.Dense(4, 3), nn.Softmax()], optimizer=optim.SGD(lr=0.1), seed=0)
    before = _untrained_weights(net)
    with pytest.raises(ValueError, match="Softmax"):
        net.compile(loss="cross_entropy")
    assert net.loss is None or net.loss.name != "cross_entropy"
    with pytest.raises(RuntimeError, match="no loss"):
        net.fit(np.zeros((4, 4)), np.zeros(4, int), verbose=0)
    for a, b in zip(before, net.parameters()):
        np.testing.assert_array_equal(a, b.data)


@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
def test_keras_probability_loss_names_are_refused_naming_the_logits_loss(name):
    with pytest.raises(ValueError, match="takes logits.*loss='cross_entropy'"):
        pydl.Network([nn.Dense(4, 3), nn.Softmax()], loss=name)


@pytest.mark.parametrize("layers,loss", [
    (lambda: [nn.Dense(4, 3)], "cross_entropy"),
    (lambda: [nn.Dense(4, 1), nn.Sigmoid()], "bce"),
    (lambda: [nn.Dense(4, 1, activation="sigmoid")], "bce"),
    (lambda: [nn.Dense(4, 1)], "bce_with_logits"),
    (lambda: [nn.Dense(4, 3), nn.Softmax()], "mse"),
    (lambda: [nn.Dense(4, 3), nn.Softmax()], "bce"),
])
def test_models_that_fit_their_loss_are_accepted(layers, loss):
    pydl.Network(layers(), loss=loss, optimizer="sgd")


def test_a_users_own_last_layer_is_not_second_guessed():
    class Scale(nn.Layer):
        def forward(self, x):
            return x

        def backward(self, dy, need_dx=True):
            return dy

    pydl.Network([nn.Dense(4, 1), Scale()], loss="bce", optimizer="sgd")


def _three_class_classifier(n, epochs):
    """A linear softmax classifier trained on 3 separable classes: (net, x, labels)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4))
    labels = np.argmax(x[:, :3], axis=1)
    net = pydl.Network([nn.Dense(4, 3)], loss="cross_entropy", optimizer=optim.Adam(lr=0.05), seed=0)
    net.fit(x, labels, epochs=epochs, verbose=0)
    return net, x, labels


def test_cross_entropy_probabilities_are_a_single_softmax():
    net, x, _ = _three_class_classifier(200, 30)
    p = net.predict_proba(x)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    assert p.max(axis=1).mean() > 0.8  # a double softmax of 3 classes peaks near 1/3


def test_calling_a_network_returns_its_forward_output():
    net = pydl.Network([nn.Dense(3, 2), nn.ReLU()], seed=1)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_array_equal(net(x), net.forward(x))
    np.testing.assert_allclose(net(x), np.maximum(x @ net[0].params["W"] + net[0].params["b"], 0), rtol=1e-6)


def _fresh_weights():
    net = pydl.Network([nn.Dense(3, 4), nn.Tanh(), nn.Dense(4, 2)],
                       loss="cross_entropy", optimizer="sgd")
    x = np.random.default_rng(0).normal(size=(64, 3))
    net.fit(x, (x[:, 0] > 0).astype(int), epochs=2, verbose=0)  # shuffling uses the network's generator
    return [p.data.copy() for p in net.parameters()]


def test_manual_seed_makes_networks_created_afterwards_reproducible():
    pydl.manual_seed(42)
    first = _fresh_weights()
    pydl.manual_seed(42)
    second = _fresh_weights()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    third = _fresh_weights()  # the generator moved on
    assert not all(np.array_equal(a, b) for a, b in zip(first, third))


@pytest.mark.parametrize("seed,error", [(-1, ValueError), (None, ValueError), (1.5, TypeError), ("3", TypeError),
                                        (True, TypeError)])
def test_manual_seed_rejects_non_integers(seed, error):
    with pytest.raises(error, match="manual_seed: seed must be a non-negative integer"):
        pydl.manual_seed(seed)


def test_accuracy_on_float_labels_agrees_with_evaluate():
    net, x, labels = _three_class_classifier(300, 20)
    y_float = labels.astype(np.float64)
    assert pydl.metrics.accuracy(y_float, net.predict(x)) == pytest.approx(net.evaluate(x, y_float)["accuracy"])
    assert pydl.metrics.accuracy(y_float, labels) == 1.0
    # Probabilities in a column are still thresholded at 0.5.
    assert pydl.metrics.accuracy(np.array([0, 1, 1]), np.array([0.2, 0.7, 0.4])) == pytest.approx(2 / 3)


class _CountingDense(nn.Dense):
    calls = 0

    def forward(self, x):
        type(self).calls += 1
        return super().forward(x)


def test_evaluation_runs_in_large_batches_not_training_sized_ones():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, 8))
    y = (x[:, 0] > 0).astype(np.float32)
    net = pydl.Network([_CountingDense(8, 1), nn.Sigmoid()], loss="bce", optimizer="sgd", seed=0)
    net.native = False
    _CountingDense.calls = 0
    net.evaluate(x, y)
    net.predict(x)
    assert _CountingDense.calls == 2
    _CountingDense.calls = 0
    net.fit(x, y, epochs=1, batch_size=100, validation_data=(x, y), verbose=0)
    assert _CountingDense.calls == 50 + 1  # 50 training batches, validation in one
    assert net.evaluate(x, y)["loss"] == pytest.approx(net.evaluate(x, y, batch_size=7)["loss"], rel=1e-6)


def test_inference_batches_bound_memory_for_wide_activations():
    net = pydl.Network([nn.Conv2D(1, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Dense(16 * 28 * 28, 10)],
                       loss="cross_entropy", seed=0)
    x = np.zeros((2000, 1, 28, 28), np.float32)
    out = net.predict_proba(x)
    assert out.shape == (2000, 10)
    assert pydl.training.eval_batch_size(net, 2000) < 2000  # 12544 values per sample: several batches
