"""The training plan (pydl.plan: whole epochs in C++ over the layers' kernels) trains exactly as the
layers' Python forward/backward do: same losses, accuracies, parameters, optimizer state and step count,
for MLPs and CNNs, every loss and optimizer, every batch-size rule, with and without shuffling,
validation, L2 and learning-rate schedules (per epoch and per batch)."""
import numpy as np
import pytest

import pydl
from pydl import _core, nn, optim
from pydl.nn.layers import Dense
from pydl.plan import TrainingPlan

N = 13  # prime: 4 divides nothing, 1 and 13 are the extremes
F64 = "float64"


def _mlp(out):
    return [nn.Dense(3, 5, activation="relu", dtype=F64), nn.Tanh(dtype=F64), nn.Dense(5, 4, dtype=F64),
            nn.Sigmoid(clip=0.01, dtype=F64), nn.Dense(4, out, dtype=F64)]


def _cnn(out):
    return [nn.Conv2D(1, 3, 3, padding=1, dtype=F64), nn.ReLU(dtype=F64), nn.MaxPool2D(2, dtype=F64),
            nn.Conv2D(3, 4, 3, stride=2, padding=1, dtype=F64), nn.AvgPool2D(2, padding=1, dtype=F64),
            nn.Flatten(dtype=F64), nn.Dense(16, out, dtype=F64)]


def _narrow(out):
    """Narrow dense layers only (in <= 4, out <= 8): the plan keeps activations feature-major and folds each
    activation layer into the dense step before it."""
    return [nn.Dense(2, 3, dtype=F64), nn.Sigmoid(dtype=F64), nn.Dense(3, 4, activation="tanh", dtype=F64),
            nn.ReLU(dtype=F64), nn.Dense(4, 3, dtype=F64), nn.Sigmoid(clip=0.01, dtype=F64), nn.Dense(3, out, dtype=F64)]


def _cnn_fused(out):
    """Every way a ReLU joins a layer's step: Conv2D's own activation, a ReLU layer after Conv2D and Dense."""
    return [nn.Conv2D(1, 3, 3, padding=1, activation="relu", dtype=F64), nn.MaxPool2D(2, dtype=F64),
            nn.Conv2D(3, 4, 3, padding=1, dtype=F64), nn.ReLU(dtype=F64), nn.Flatten(dtype=F64),
            nn.Dense(36, 5, dtype=F64), nn.ReLU(dtype=F64), nn.Dense(5, out, dtype=F64)]


MODELS = {"mlp": (_mlp, (3,)), "cnn": (_cnn, (1, 6, 6)), "narrow": (_narrow, (2,)),
          "cnn fused": (_cnn_fused, (1, 6, 6))}
# loss -> (network outputs, final layer or None, target maker)
LOSSES = {
    "mse": (2, None, lambda r: r.normal(size=(N, 2))),
    "bce": (1, lambda: nn.Sigmoid(dtype=F64), lambda r: r.integers(0, 2, N).astype(float)),
    "bce_with_logits": (1, None, lambda r: r.random(N)),
    "cross_entropy": (3, None, lambda r: r.integers(0, 3, N)),
    "cross_entropy one-hot": (3, None, lambda r: np.eye(3)[r.integers(0, 3, N)]),
    "multi_bce": (3, None, lambda r: r.integers(0, 3, N)),
    "multi_bce one-hot": (3, None, lambda r: np.eye(3)[r.integers(0, 3, N)]),
}
OPTIMIZERS = {
    "sgd": lambda: optim.SGD(lr=0.05),
    "sgd nesterov": lambda: optim.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    "rmsprop": lambda: optim.RMSprop(lr=0.01, momentum=0.5, centered=True, weight_decay=0.01),
    "adam": lambda: optim.Adam(lr=0.01, weight_decay=0.01),
}


def _network(model, loss, opt, l2=0.0):
    layers_fn, shape = MODELS[model]
    outputs, last, _ = LOSSES[loss]
    layers = layers_fn(outputs) + ([last()] if last else [])
    return pydl.Network(layers, loss=loss.split()[0], optimizer=OPTIMIZERS[opt](), l2=l2, dtype=F64, seed=5,
                        input_shape=shape)


def _data(model, loss, seed=0):
    r = np.random.default_rng(seed)
    return r.normal(size=(N,) + MODELS[model][1]), LOSSES[loss][2](r)


@pytest.fixture
def plan_calls(monkeypatch):
    """How many times fit ran the plan."""
    calls = []
    run = TrainingPlan.run
    monkeypatch.setattr(TrainingPlan, "run", lambda self, *a, **k: calls.append(1) or run(self, *a, **k))
    return calls


def _assert_same_training(a, b, ha, hb, tol=1e-12):
    assert sorted(ha.history) == sorted(hb.history)
    for key in ha.history:
        if key != "time":
            np.testing.assert_allclose(ha[key], hb[key], rtol=tol, atol=tol, err_msg=key)
    assert a.optimizer.steps == b.optimizer.steps
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_allclose(pa.data, pb.data, rtol=tol, atol=tol, err_msg=name)
        sa, sb = a.optimizer.state_of(pa), b.optimizer.state_of(pb)
        for key in sa:
            np.testing.assert_allclose(sa[key], sb[key], rtol=tol, atol=tol, err_msg=f"{name} {key}")


def _fit_both(model, loss, opt, plan_calls, l2=0.0, **fit_args):
    x, y = _data(model, loss)
    planned, stepped = _network(model, loss, opt, l2), _network(model, loss, opt, l2)
    stepped.native = False
    h_plan = planned.fit(x, y, verbose=0, seed=2, **fit_args)
    assert plan_calls, "fit did not train through the plan"
    calls = len(plan_calls)
    h_step = stepped.fit(x, y, verbose=0, seed=2, **fit_args)
    assert len(plan_calls) == calls, "the step-by-step network ran the plan"
    _assert_same_training(planned, stepped, h_plan, h_step)
    return planned


@pytest.mark.parametrize("batch_size", [1, 4, N, "full"])
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("model", sorted(MODELS))
def test_plan_and_step_by_step_training_agree(model, loss, opt, batch_size, plan_calls):
    net = _fit_both(model, loss, opt, plan_calls, epochs=3, batch_size=batch_size)
    assert net.optimizer.steps == 3 * -(-N // (N if batch_size == "full" else batch_size))


@pytest.mark.parametrize("model,feature_major", [("mlp", False), ("cnn", False), ("narrow", True)])
def test_networks_of_narrow_dense_layers_train_feature_major(model, feature_major):
    net = _network(model, "mse", "sgd")
    net._last_input_shape = MODELS[model][1]
    assert TrainingPlan.for_network(net)._plan.feature_major == feature_major


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("shuffle", [True, False])
def test_shuffled_or_in_order(model, shuffle, plan_calls):
    _fit_both(model, "cross_entropy", "adam", plan_calls, epochs=3, batch_size=4, shuffle=shuffle)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_validation_and_l2(model, plan_calls):
    _fit_both(model, "cross_entropy", "sgd nesterov", plan_calls, l2=0.01, epochs=3, batch_size=4,
              validation_split=0.3)


@pytest.mark.parametrize("schedule", [lambda: optim.StepDecay(gamma=0.5),
                                      lambda: optim.ExponentialDecay(decay_rate=0.9),
                                      lambda: optim.CyclicLR(base_lr=0.001, max_lr=0.05, step_size_up=3)],
                         ids=["step decay", "exponential decay", "cyclic (per batch)"])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_learning_rate_schedules_run_in_the_plan(model, schedule, plan_calls):
    x, y = _data(model, "cross_entropy")
    planned, stepped = _network(model, "cross_entropy", "adam"), _network(model, "cross_entropy", "adam")
    stepped.native = False
    ha = planned.fit(x, y, epochs=4, batch_size=3, verbose=0, seed=1, callbacks=[schedule()])
    assert plan_calls
    hb = stepped.fit(x, y, epochs=4, batch_size=3, verbose=0, seed=1, callbacks=[schedule()])
    _assert_same_training(planned, stepped, ha, hb)
    assert len(set(ha["lr"])) == 4  # the rate did change, every epoch


def test_a_relu_layer_runs_fused_into_the_conv2d_or_dense_step_before_it():
    net = _network("cnn fused", "cross_entropy", "adam")
    net.predict(_data("cnn fused", "cross_entropy")[0])  # the plan follows the input shape last seen
    steps = TrainingPlan(net)._describe()[0]
    assert [(kind, numbers.get("activation"), out_shape) for kind, _, _, numbers, _, out_shape, _ in steps] == [
        ("conv2d", 1, (3, 6, 6)), ("max_pool2d", None, (3, 3, 3)), ("conv2d", 1, (4, 3, 3)), ("dense", 1, (5,)),
        ("dense", 0, (3,))]
    not_fused = _network("mlp", "mse", "sgd")  # Dense(relu) then Tanh, Dense then Sigmoid: two steps each
    not_fused.predict(_data("mlp", "mse")[0])
    assert [step[0] for step in TrainingPlan(not_fused)._describe()[0]] == ["dense", "activation"] * 2 + ["dense"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_mnist_cnn_trains_bit_for_bit_as_step_by_step(dtype, plan_calls):
    # The issue-12 network at its own shapes: the plan fuses both ReLUs into the convolutions and masks
    # dy inside their backward kernel; the Python path runs ReLU layers and relu_backward.
    def network():
        return pydl.Network([nn.Conv2D(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2D(2),
                             nn.Conv2D(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2D(2), nn.Flatten(),
                             nn.Dense(1568, 32), nn.ReLU(), nn.Dense(32, 10)],
                            loss="cross_entropy", optimizer=optim.Adam(lr=1e-3), dtype=dtype, seed=0)
    r = np.random.default_rng(0)
    x, y = r.random((96, 1, 28, 28)), r.integers(0, 10, 96)
    planned, stepped = network(), network()
    stepped.native = False
    planned.fit(x, y, epochs=2, batch_size=32, verbose=0, seed=1)
    assert plan_calls
    stepped.fit(x, y, epochs=2, batch_size=32, verbose=0, seed=1)
    for pa, pb in zip(planned.parameters(), stepped.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)


def test_plan_and_python_epochs_alternate_on_one_network(plan_calls):
    x, y = _data("cnn", "cross_entropy")
    reference = _network("cnn", "cross_entropy", "adam")
    reference.native = False
    mixed = _network("cnn", "cross_entropy", "adam")
    for epoch in range(4):
        reference.fit(x, y, epochs=1, batch_size=4, verbose=0, seed=epoch)
        mixed.native = epoch % 2 == 0
        mixed.fit(x, y, epochs=1, batch_size=4, verbose=0, seed=epoch)
    assert len(plan_calls) == 2
    for pa, pb in zip(reference.parameters(), mixed.parameters()):
        np.testing.assert_allclose(pa.data, pb.data, rtol=1e-12, atol=1e-12)
    assert reference.optimizer.steps == mixed.optimizer.steps == 16


def test_plan_follows_a_new_optimizer_and_l2(plan_calls):
    x, y = _data("mlp", "mse")
    a, b = _network("mlp", "mse", "sgd"), _network("mlp", "mse", "sgd")
    b.native = False
    for net in (a, b):
        net.fit(x, y, epochs=2, batch_size=4, verbose=0, seed=0)
        net.compile(optimizer=optim.Adam(lr=0.01), l2=0.1)
        net.fit(x, y, epochs=2, batch_size=4, verbose=0, seed=1)
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(pa.data, pb.data, rtol=1e-12, atol=1e-12)


def test_results_do_not_depend_on_the_instruction_set(simd_level, plan_calls):
    _fit_both("cnn", "cross_entropy", "adam", plan_calls, epochs=2, batch_size=4)


def test_results_do_not_depend_on_the_thread_count():
    x = np.random.default_rng(0).normal(size=(300, 1, 12, 12))
    y = np.random.default_rng(1).integers(0, 3, 300)
    weights, previous = [], pydl.get_num_threads()
    for threads in (1, 2):
        pydl.set_num_threads(threads)
        try:
            net = pydl.Network([nn.Conv2D(1, 8, 3, padding=1, dtype=F64), nn.ReLU(dtype=F64),
                                nn.MaxPool2D(2, dtype=F64), nn.Flatten(dtype=F64), nn.Dense(288, 3, dtype=F64)],
                               loss="cross_entropy", optimizer=optim.Adam(lr=0.01), dtype=F64, seed=0)
            net.fit(x, y, epochs=2, batch_size=100, verbose=0, seed=0)
        finally:
            pydl.set_num_threads(previous)
        weights.append([p.data.copy() for p in net.parameters()])
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


class Doubler(nn.Layer):
    """A user's layer: the plan has no step for it."""

    def forward(self, x):
        return 2 * x

    def backward(self, dy, need_dx=True):
        return 2 * dy


class LoudDense(Dense):
    """A subclass changing forward: its inherited plan step would no longer say what runs."""

    def forward(self, x):
        return super().forward(x)


@pytest.mark.parametrize("case", ["user layer", "changed forward", "numpy backend", "user loss"])
def test_networks_the_plan_cannot_run_train_step_by_step(case, plan_calls):
    layers = [nn.Dense(3, 4), nn.ReLU(), nn.Dense(4, 2)]
    kwargs = {"loss": "mse", "optimizer": optim.SGD(lr=0.1), "seed": 0}
    if case == "user layer":
        layers.insert(1, Doubler())
    elif case == "changed forward":
        layers[0] = LoudDense(3, 4)
    elif case == "numpy backend":
        kwargs["backend"] = "numpy"
    else:
        class MyLoss(pydl.losses.MSELoss):
            pass
        kwargs["loss"] = MyLoss()
    net = pydl.Network(layers, **kwargs)
    net.fit(np.ones((8, 3)), np.zeros((8, 2)), epochs=2, verbose=0)
    assert net.optimizer.steps == 2
    assert not plan_calls


def test_a_wrong_plan_description_raises_instead_of_writing_out_of_bounds():
    w, g = np.zeros((3, 2)), np.zeros((3, 2))
    ok_loss, ok_opt = ("mse", 1e-7, 0.5), ("sgd", {}, [(w, g, (), 0.0)])
    dense = ("dense", [w], [g], {"activation": 0}, (3,), (2,))
    _core._TrainingPlan("float64", [dense], ok_loss, ok_opt)
    with pytest.raises(ValueError, match="no plan step for layer kind 'gelu'"):
        _core._TrainingPlan("float64", [("gelu", [], [], {}, (2,), (2,))], ok_loss, ok_opt)
    with pytest.raises(ValueError, match="takes 5 values per sample"):
        _core._TrainingPlan("float64", [dense, ("activation", [], [], {"activation": 1}, (5,), (5,))], ok_loss,
                            ok_opt)
    with pytest.raises(TypeError, match="dtype float64"):
        _core._TrainingPlan("float64", [("dense", [w.astype(np.float32)], [g], {}, (3,), (2,))], ok_loss, ok_opt)
    with pytest.raises(ValueError, match="read-only"):
        ro = w.copy()
        ro.flags.writeable = False
        _core._TrainingPlan("float64", [dense], ok_loss, ("sgd", {}, [(ro, g, (), 0.0)]))
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        _core._TrainingPlan("float64", [dense], ("hinge", 0.0, 0.5), ok_opt)
    plan = _core._TrainingPlan("float64", [dense], ok_loss, ok_opt)
    x, t, labels = np.zeros((4, 3)), np.zeros((4, 2)), np.zeros(4, np.int64)
    with pytest.raises(ValueError, match="outside"):
        plan.run(x, t, labels, epochs=1, batch_size=2, perms=np.array([[0, 1, 2, 9]]), lr=0.1, step=0)
    with pytest.raises(ValueError, match="values per sample"):
        plan.run(np.zeros((4, 2)), t, labels, epochs=1, batch_size=2, lr=0.1, step=0)
    with pytest.raises(ValueError, match="one rate per step"):
        plan.run(x, t, labels, epochs=1, batch_size=2, lrs=np.ones(3), lr=0.1, step=0)
