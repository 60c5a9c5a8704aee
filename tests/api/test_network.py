"""pydl.Network: training, prediction, evaluation, History, summary, seeds, dtypes and backends."""
import numpy as np
import pytest

import pydl
from pydl import nn, optim
from pydl.callbacks import Callback


def quadratic_data(seed, n_train=1000, n_test=100):
    """Report 000's task: x ~ U(-2, 2)², label x0² > x1."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (n_train + n_test, 2))
    y = (x[:, 0] ** 2 > x[:, 1]).astype(np.int64)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def net_000(seed=0, **kwargs):
    kwargs.setdefault("loss", "bce")
    kwargs.setdefault("optimizer", optim.SGD(lr=5.0))
    return pydl.Network([nn.Dense(2, 3), nn.Sigmoid(), nn.Dense(3, 1), nn.Sigmoid()], seed=seed, **kwargs)


def blobs(seed, n=120, classes=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.standard_normal((n, 2)) * 0.5 + np.eye(classes, 2)[y] * 3
    return x, y


def test_report_000_network_reaches_97_percent_test_accuracy():
    accuracies = []
    for seed in range(3):
        x, y, xt, yt = quadratic_data(seed)
        net = net_000(seed)
        net.fit(x, y, epochs=1000, batch_size="full", verbose=0)
        accuracies.append(net.evaluate(xt, yt)["accuracy"])
    assert np.mean(accuracies) >= 0.97, accuracies


def test_train_step_returns_the_loss_before_the_update():
    x, y, _, _ = quadratic_data(0, n_train=50)
    net = net_000()
    before = net.evaluate(x, y)["loss"]
    assert net.train_step(x, y) == pytest.approx(before, rel=1e-6)
    assert net.evaluate(x, y)["loss"] < before


def test_fit_with_validation_data_fills_history():
    x, y, xt, yt = quadratic_data(1, n_train=200)
    history = net_000().fit(x, y, epochs=5, validation_data=(xt, yt), verbose=0)
    assert set(history.history) == {"loss", "accuracy", "cost", "val_loss", "val_accuracy", "val_cost", "lr", "time"}
    assert all(len(v) == 5 for v in history.history.values())
    assert history.epoch == [0, 1, 2, 3, 4]


def test_validation_metrics_equal_evaluate_after_training():
    x, y, xt, yt = quadratic_data(2, n_train=200)
    net = net_000()
    history = net.fit(x, y, epochs=3, validation_data=(xt, yt), verbose=0)
    assert history["val_loss"][-1] == pytest.approx(net.evaluate(xt, yt)["loss"])


def test_validation_split_holds_out_the_last_samples():
    x, y, _, _ = quadratic_data(3, n_train=100)
    a, b = net_000(seed=7), net_000(seed=7)
    split = a.fit(x, y, epochs=2, validation_split=0.2, verbose=0)
    explicit = b.fit(x[:80], y[:80], epochs=2, validation_data=(x[80:], y[80:]), verbose=0, seed=None)
    assert split["val_loss"] == explicit["val_loss"]


def test_minibatch_training_lowers_the_loss():
    x, y = blobs(0)
    net = pydl.Network([nn.Dense(2, 8), nn.ReLU(), nn.Dense(8, 3)], loss="cross_entropy",
                       optimizer=optim.Adam(lr=0.05), seed=0)
    history = net.fit(x, y, epochs=10, batch_size=16, verbose=0, seed=0)
    assert history["loss"][-1] < history["loss"][0] / 2
    assert net.evaluate(x, y)["accuracy"] > 0.9


def test_same_seed_gives_the_same_run_bit_for_bit():
    x, y = blobs(1)

    def run():
        net = pydl.Network([nn.Dense(2, 8), nn.Tanh(), nn.Dense(8, 3)], loss="cross_entropy",
                           optimizer=optim.SGD(lr=0.1, momentum=0.9), seed=42)
        net.fit(x, y, epochs=3, batch_size=10, verbose=0)
        return net.layers[0].params["W"].copy(), net.predict_proba(x)

    (w1, p1), (w2, p2) = run(), run()
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(p1, p2)


def test_different_seeds_give_different_weights():
    assert not np.array_equal(net_000(seed=1).layers[0].params["W"], net_000(seed=2).layers[0].params["W"])


def test_predict_thresholds_a_single_sigmoid_output():
    net = pydl.Network([nn.Dense(1, 1), nn.Sigmoid()], loss="bce")
    net.layers[0].params["W"][...] = 1.0
    assert net.predict(np.array([[-1.0], [0.5], [2.0]])).tolist() == [0, 1, 1]


def test_predict_is_the_argmax_for_several_classes_and_proba_rows_sum_to_one():
    x, _ = blobs(2, n=10)
    net = pydl.Network([nn.Dense(2, 3)], loss="cross_entropy", seed=0)
    proba = net.predict_proba(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(net.predict(x), proba.argmax(axis=1))


def test_predict_in_batches_equals_full_batch():
    x, _ = blobs(3, n=25)
    net = pydl.Network([nn.Dense(2, 3)], loss="cross_entropy", seed=0)
    # SIMD kernels may round a batch's tail differently: equal to float32 precision, not bit for bit.
    np.testing.assert_allclose(net.predict_proba(x, batch_size=7), net.predict_proba(x), rtol=1e-6)


def test_predict_returns_arrays_the_network_does_not_reuse():
    net = pydl.Network([nn.Dense(2, 1), nn.Sigmoid()], loss="bce", seed=0)
    a = net.predict_proba(np.ones((3, 2)))
    kept = a.copy()
    net.predict_proba(np.zeros((3, 2)))
    np.testing.assert_array_equal(a, kept)


def test_l2_cost_is_loss_plus_lambda_times_squared_weights():
    x, y, _, _ = quadratic_data(4, n_train=50)
    net = net_000(l2=0.01)
    result = net.evaluate(x, y)
    squared = sum(np.sum(layer.params["W"].astype(np.float64) ** 2) for layer in net.layers if "W" in layer.params)
    assert result["cost"] == pytest.approx(result["loss"] + 0.01 * squared, rel=1e-5)


def test_l2_adds_two_lambda_w_to_weight_gradients_but_not_biases():
    x = np.array([[1.0, 2.0]])
    y = np.array([[0.5]])
    plain = pydl.Network([nn.Dense(2, 1)], loss="mse", optimizer=optim.SGD(lr=0.1), dtype="float64", seed=0)
    reg = pydl.Network([nn.Dense(2, 1)], loss="mse", optimizer=optim.SGD(lr=0.1), dtype="float64", seed=0, l2=0.5)
    w0 = plain.layers[0].params["W"].copy()
    plain.train_step(x, y)
    reg.train_step(x, y)
    np.testing.assert_allclose(reg.layers[0].params["W"], plain.layers[0].params["W"] - 0.1 * 2 * 0.5 * w0)
    np.testing.assert_array_equal(reg.layers[0].params["b"], plain.layers[0].params["b"])


def test_history_records_the_learning_rate_each_epoch_trained_with():
    x, y, _, _ = quadratic_data(5, n_train=50)
    net = net_000(optimizer=optim.SGD(lr=1.0))
    history = net.fit(x, y, epochs=3, verbose=0, callbacks=[optim.StepDecay(gamma=0.95)])
    np.testing.assert_allclose(history["lr"], [1.0, 0.95, 0.95 ** 2])
    assert net.optimizer.lr == pytest.approx(0.95 ** 3)


def test_cyclic_lr_steps_every_batch():
    x, y, _, _ = quadratic_data(6, n_train=40)
    net = net_000(optimizer=optim.SGD(lr=1.0))
    sched = optim.CyclicLR(base_lr=0.1, max_lr=1.0, step_size_up=100)
    net.fit(x, y, epochs=2, batch_size=10, verbose=0, callbacks=[sched])
    assert sched.t == 8


def test_a_callback_can_stop_training():
    class StopAfterTwo(Callback):
        def on_epoch_end(self, epoch, logs):
            net.stop_training = epoch == 1

    x, y, _, _ = quadratic_data(7, n_train=30)
    net = net_000()
    assert len(net.fit(x, y, epochs=10, verbose=0, callbacks=[StopAfterTwo()])) == 2


def test_zero_epochs_is_an_empty_history():
    x, y, _, _ = quadratic_data(8, n_train=10)
    assert len(net_000().fit(x, y, epochs=0, verbose=0)) == 0


def test_history_plot_without_matplotlib_names_the_missing_package(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    history = pydl.History()
    history.append(0, {"loss": 1.0})
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        history.plot("unused.png")


def test_history_plot_saves_a_figure(tmp_path):
    pytest.importorskip("matplotlib")
    history = pydl.History()
    for epoch in range(3):
        history.append(epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 1.0, "accuracy": 0.5, "val_accuracy": 0.4})
    history.plot(tmp_path / "history.png")
    assert (tmp_path / "history.png").stat().st_size > 0


def test_summary_prints_report_004_style_conv_layers(capsys):
    net = pydl.Network([nn.Conv2D(1, 3, (1, 2)), nn.Sigmoid(), nn.Conv2D(3, 1, 1), nn.Sigmoid()],
                       input_shape=(1, 1, 2))
    text = net.summary()
    assert capsys.readouterr().out.strip() == text.strip()
    rows = text.splitlines()
    assert rows[2].split() == ["#1", "Conv2D", "(1,", "1,", "2)", "(3,", "1,", "1,", "2)", "(1,", "1)", "(3,", "1,",
                               "1)", "9"]
    assert rows[4].split()[-1] == "4"
    assert "Total params: 13" in text


def test_conv_network_of_report_004_learns_the_quadratic_task():
    x, y, xt, yt = quadratic_data(10)
    net = pydl.Network([nn.Conv2D(1, 3, (1, 2)), nn.Sigmoid(), nn.Conv2D(3, 1, 1), nn.Sigmoid(), nn.Flatten()],
                       loss="bce", optimizer=optim.SGD(lr=5.0), seed=0)
    net.fit(x.reshape(-1, 1, 1, 2), y, epochs=300, verbose=0)
    assert net.evaluate(xt.reshape(-1, 1, 1, 2), yt)["accuracy"] >= 0.9


def test_summary_takes_the_input_shape_from_a_first_dense_layer():
    assert "(2,)" in net_000().summary(print_fn=None)


def test_summary_without_a_known_input_shape_asks_for_one():
    with pytest.raises(ValueError, match="pass summary\\(input_shape=...\\)"):
        pydl.Network([nn.Conv2D(1, 1, 1)]).summary()


def test_repr_lists_the_layers():
    text = repr(net_000())
    assert "(0): Dense(2, 3)" in text and "(3): Sigmoid()" in text and "loss=BCELoss()" in text


def test_float32_is_the_default_and_float64_on_request():
    assert net_000().predict_proba(np.zeros((2, 2))).dtype == np.float32
    assert net_000(dtype="float64").predict_proba(np.zeros((2, 2))).dtype == np.float64


def test_integer_inputs_are_cast_at_the_boundary():
    net = net_000()
    np.testing.assert_array_equal(net.predict_proba(np.array([[1, 2]])), net.predict_proba(np.array([[1.0, 2.0]])))


def test_non_contiguous_input_gives_the_same_result():
    x = np.asfortranarray(np.random.default_rng(0).standard_normal((5, 2)))
    net = net_000()
    np.testing.assert_array_equal(net.predict_proba(x), net.predict_proba(np.ascontiguousarray(x)))


def test_sequential_is_network():
    assert pydl.Sequential is pydl.Network


def test_eval_and_train_modes_propagate_to_layers():
    net = net_000().eval()
    assert not any(layer.training for layer in net.layers)
    assert all(layer.training for layer in net.train().layers)


@pytest.mark.parametrize("make,loss,opt", [
    (lambda: [nn.Dense(2, 3), nn.Sigmoid(), nn.Dense(3, 1), nn.Sigmoid()], "bce", lambda: optim.SGD(lr=5.0)),
    (lambda: [nn.Dense(2, 6, activation="relu"), nn.Dense(6, 3), nn.Softmax()], "mse",
     lambda: optim.RMSprop(lr=0.01, momentum=0.5)),
    (lambda: [nn.Dense(2, 6), nn.Tanh(), nn.Dense(6, 3)], "cross_entropy", lambda: optim.Adam(lr=0.01)),
    (lambda: [nn.Conv2D(1, 2, (1, 2)), nn.ReLU(), nn.Flatten(), nn.Dense(2, 3)], "multi_bce",
     lambda: optim.SGD(lr=0.1, momentum=0.9, nesterov=True)),
])
def test_numpy_and_cpp_backends_agree_on_a_training_run_in_float64(make, loss, opt):
    x, y = blobs(4, n=64)
    if isinstance(make()[0], nn.Conv2D):
        x = x.reshape(-1, 1, 1, 2)
    if loss == "bce":
        y = (y > 0).astype(int)

    def run(backend):
        net = pydl.Network(make(), loss=loss, optimizer=opt(), dtype="float64", backend=backend, seed=3, l2=1e-3)
        history = net.fit(x, y, epochs=20, batch_size=16, verbose=0)
        return net, history

    (cpp, h_cpp), (ref, h_ref) = run("cpp"), run("numpy")
    for (name, a), (_, b) in zip(cpp.named_parameters(), ref.named_parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-6, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(h_cpp["cost"], h_ref["cost"], rtol=1e-6)


def test_set_backend_switches_the_default(monkeypatch):
    monkeypatch.setattr(pydl.backend, "_default", "cpp")
    pydl.set_backend("numpy")
    assert pydl.get_backend() == "numpy"
    assert nn.ReLU().kernels is pydl.reference
