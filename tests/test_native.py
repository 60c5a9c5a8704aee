"""The native training loop (pydl.native, pydl._core.NativeTrainer) against the Python path of Network.fit:
same losses, accuracies, parameters and optimizer state, epoch by epoch."""
import numpy as np
import pytest

import pydl
from pydl import _core, nn, optim
from pydl.native import NativePlan
from pydl.network import Network

N = 23  # not a multiple of 7: the last batch is smaller
F64 = np.float64


def _data(rng, n=N, features=3, classes=None):
    x = rng.normal(size=(n, features))
    if classes is None:
        y = (x[:, 0] - x[:, 1] ** 2 > -0.5).astype(F64)
    else:
        y = rng.integers(0, classes, size=n)
    return x, y


def _net(layers_fn, loss, opt_fn, l2=0.0, dtype=F64, seed=3):
    return Network(layers_fn(dtype), loss=loss, optimizer=opt_fn(), l2=l2, dtype=dtype, seed=seed)


def _prepared(net, x, y):
    x = np.ascontiguousarray(x, dtype=net.dtype)
    out_shape = net._output_shape(x.shape[1:], "test")
    return x, net.loss.prepare_target(np.asarray(y), out_shape, net.dtype)


def _native_fit(net, x, y, epochs, batch_size, seed):
    """What Network.fit does, with the native engine for each epoch and the same shuffling calls."""
    plan = NativePlan.from_network(net)
    assert plan is not None
    x, t = _prepared(net, x, y)
    n = x.shape[0]
    shuffle = batch_size is not None and batch_size < n
    rng = np.random.default_rng(seed)
    losses, accs = [], []
    for _ in range(epochs):
        perm = rng.permutation(n) if shuffle else None
        loss, acc = plan.run_epoch(x, t, perm, batch_size)
        losses.append(loss)
        accs.append(acc)
    return losses, accs


def _assert_same_state(a, b, tol):
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_allclose(pb.data, pa.data, rtol=tol, atol=tol, err_msg=name)
        np.testing.assert_allclose(pb.grad, pa.grad, rtol=tol, atol=tol, err_msg=name + " grad")
        sa, sb = a.optimizer.state_of(pa), b.optimizer.state_of(pb)
        assert sa.keys() == sb.keys()
        for key in sa:
            np.testing.assert_allclose(sb[key], sa[key], rtol=tol, atol=tol, err_msg=f"{name} {key}")
    assert a.optimizer.steps == b.optimizer.steps


def _compare(layers_fn, loss, opt_fn, x, y, batch_size, epochs=3, l2=0.0, dtype=F64, tol=1e-6):
    py_net = _net(layers_fn, loss, opt_fn, l2, dtype)
    nat_net = _net(layers_fn, loss, opt_fn, l2, dtype)
    hist = py_net.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, seed=11)
    losses, accs = _native_fit(nat_net, x, y, epochs, batch_size, seed=11)
    np.testing.assert_allclose(losses, hist["loss"], rtol=tol, atol=tol)
    np.testing.assert_allclose(accs, hist["accuracy"], rtol=0, atol=1e-12)
    _assert_same_state(py_net, nat_net, tol)


def _mlp(hidden, last=None, out=1):
    def layers(dtype):
        ls = [nn.Dense(3, 4, dtype=dtype), hidden(dtype), nn.Dense(4, out, dtype=dtype)]
        return ls + ([last(dtype)] if last else [])
    return layers


ACTIVATIONS = {
    "sigmoid": lambda d: nn.Sigmoid(dtype=d),
    "sigmoid_clip": lambda d: nn.Sigmoid(clip=0.05, dtype=d),
    "relu": lambda d: nn.ReLU(dtype=d),
    "tanh": lambda d: nn.Tanh(dtype=d),
    "softmax": lambda d: nn.Softmax(dtype=d),
}
SGD = lambda: optim.SGD(lr=0.5)  # noqa: E731


@pytest.mark.parametrize("batch_size", [1, 7, None])
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_activations(rng, act, batch_size):
    x, y = _data(rng)
    _compare(_mlp(ACTIVATIONS[act], ACTIVATIONS["sigmoid"]), "bce", SGD, x, y, batch_size)


def test_fused_dense_activation(rng):
    x, y = _data(rng)
    layers = lambda d: [nn.Dense(3, 5, activation="tanh", dtype=d), nn.Dense(5, 1, activation="sigmoid", dtype=d)]  # noqa: E731
    _compare(layers, "bce", SGD, x, y, 7)


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("act", ["sigmoid", "sigmoid_clip", "relu"])
def test_narrow_layers_computed_with_their_activation(rng, act, width):
    """Dense layers with at most 4 inputs (forward) or outputs (input gradient) run in one pass with the
    activation next to them; 5 takes the separate loops. Every width of that path, with and without bias."""
    x, y = _data(rng)
    x = np.hstack([x] * 2)[:, :width]
    layers = lambda d: [nn.Dense(width, width, dtype=d), ACTIVATIONS[act](d),  # noqa: E731
                        nn.Dense(width, width, bias=False, dtype=d), ACTIVATIONS[act](d),
                        nn.Dense(width, 1, dtype=d), nn.Sigmoid(dtype=d)]
    _compare(layers, "bce", SGD, x, y, 7)


def test_wide_layers_use_gemm(rng):
    # in * out above the plain-loop limit: the products go through pydl's GEMM, forward and backward.
    x = rng.normal(size=(40, 30))
    y = rng.integers(0, 10, size=40)
    layers = lambda d: [nn.Dense(30, 24, dtype=d), nn.ReLU(dtype=d), nn.Dense(24, 10, dtype=d)]  # noqa: E731
    _compare(layers, "cross_entropy", lambda: optim.Adam(lr=0.01), x, y, 16)


def test_large_layers_gradient_products(rng, threads):
    # 2 * 120 * 100 * 48 flops per gradient product: above the size at which two threads compute a
    # layer's weight and input gradients at the same time, one each.
    x = rng.normal(size=(96, 120))
    y = rng.integers(0, 10, size=96)
    layers = lambda d: [nn.Dense(120, 100, dtype=d), nn.ReLU(dtype=d), nn.Dense(100, 100, dtype=d),  # noqa: E731
                        nn.ReLU(dtype=d), nn.Dense(100, 10, dtype=d)]
    _compare(layers, "cross_entropy", lambda: optim.SGD(lr=0.05, momentum=0.9), x, y, 48)


def test_results_do_not_depend_on_thread_count(rng):
    # The engine picks one or two threads per step by timing them; every element is computed the same
    # way either way (products split by whole tiles, gradients of a layer on one thread each).
    x = rng.normal(size=(192, 120)).astype(np.float32)
    y = rng.integers(0, 10, size=192)
    layers = lambda d: [nn.Dense(120, 100, dtype=d), nn.ReLU(dtype=d), nn.Dense(100, 10, dtype=d)]  # noqa: E731
    results = []
    for threads in (1, 2):
        previous = pydl.get_num_threads()
        pydl.set_num_threads(threads)
        try:
            net = _net(layers, "cross_entropy", lambda: optim.Adam(lr=0.01), dtype=np.float32)
            losses, _ = _native_fit(net, x, y, epochs=4, batch_size=96, seed=5)
        finally:
            pydl.set_num_threads(previous)
        results.append((losses, [p.data.copy() for p in net.parameters()]))
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(a, b)


def _wide(hidden, last=None, out=1, bias=True):
    # 3 * 48 weights: above the plain-loop limit, so the engine keeps this network row-major.
    def layers(dtype):
        ls = [nn.Dense(3, 48, bias=bias, dtype=dtype), hidden(dtype), nn.Dense(48, out, dtype=dtype)]
        return ls + ([last(dtype)] if last else [])
    return layers


@pytest.mark.parametrize("batch_size", [1, 7, None])
@pytest.mark.parametrize("case", ["ce_labels", "ce_one_hot", "multi_bce", "mse", "softmax_mse", "bce", "logits",
                                  "no_bias"])
def test_wide_networks_row_major(rng, case, batch_size):
    x, labels = _data(rng, classes=4)
    xb, yb = _data(rng)
    relu, tanh, sig, soft = (ACTIVATIONS[k] for k in ("relu", "tanh", "sigmoid", "softmax"))
    cases = {
        "ce_labels": (_wide(relu, out=4), "cross_entropy", x, labels),
        "ce_one_hot": (_wide(tanh, out=4), "cross_entropy", x, np.eye(4)[labels]),
        "multi_bce": (_wide(relu, out=4), "multi_bce", x, labels),
        "mse": (_wide(sig, out=4), "mse", x, np.eye(4)[labels]),
        "softmax_mse": (_wide(tanh, soft, out=4), "mse", x, np.eye(4)[labels]),
        "bce": (_wide(tanh, sig), "bce", xb, yb),
        "logits": (_wide(relu), "bce_with_logits", xb, yb),
        "no_bias": (_wide(relu, out=4, bias=False), "cross_entropy", x, labels),
    }
    layers, loss, xs, ys = cases[case]
    _compare(layers, loss, OPTIMIZERS["adam"], xs, ys, batch_size)


def test_wide_network_float32_close(rng):
    x, labels = _data(rng, classes=4)
    _compare(_wide(ACTIVATIONS["relu"], out=4), "cross_entropy", OPTIMIZERS["adam"], x, labels, 7, dtype=np.float32,
             tol=2e-5)


@pytest.mark.parametrize("batch_size", [1, 7, None])
@pytest.mark.parametrize("loss", ["mse", "bce", "bce_with_logits"])
def test_binary_losses(rng, loss, batch_size):
    x, y = _data(rng)
    last = None if loss == "bce_with_logits" else ACTIVATIONS["sigmoid"]
    _compare(_mlp(ACTIVATIONS["tanh"], last), loss, SGD, x, y, batch_size)


@pytest.mark.parametrize("batch_size", [1, 7, None])
@pytest.mark.parametrize("one_hot", [False, True], ids=["labels", "one_hot"])
@pytest.mark.parametrize("loss", ["cross_entropy", "multi_bce", "mse"])
def test_class_losses(rng, loss, one_hot, batch_size):
    x, labels = _data(rng, classes=4)
    y = np.eye(4)[labels] if one_hot else labels
    _compare(_mlp(ACTIVATIONS["relu"], out=4), loss, SGD, x, y, batch_size)


def test_softmax_output_with_mse(rng):
    # A Softmax layer trains natively exactly as in Python (before cross-entropy it is refused: double softmax).
    x, labels = _data(rng, classes=3)
    _compare(_mlp(ACTIVATIONS["tanh"], ACTIVATIONS["softmax"], out=3), "mse", SGD, x, np.eye(3)[labels], 7)


OPTIMIZERS = {
    "sgd": lambda: optim.SGD(lr=0.3),
    "sgd_momentum": lambda: optim.SGD(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "sgd_nesterov": lambda: optim.SGD(lr=0.1, momentum=0.8, nesterov=True),
    "rmsprop": lambda: optim.RMSprop(lr=0.01),
    "rmsprop_centered_momentum": lambda: optim.RMSprop(lr=0.01, momentum=0.5, centered=True, weight_decay=0.01),
    "adam": lambda: optim.Adam(lr=0.01),
    "adam_decay": lambda: optim.Adam(lr=0.01, betas=(0.8, 0.99), weight_decay=0.05),
}


@pytest.mark.parametrize("batch_size", [1, 7, None])
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_optimizers(rng, opt, batch_size):
    x, y = _data(rng)
    _compare(_mlp(ACTIVATIONS["sigmoid"], ACTIVATIONS["sigmoid"]), "mse", OPTIMIZERS[opt], x, y, batch_size)


@pytest.mark.parametrize("opt", ["sgd_momentum", "adam"])
def test_l2(rng, opt):
    x, y = _data(rng)
    _compare(_mlp(ACTIVATIONS["relu"], ACTIVATIONS["sigmoid"]), "bce", OPTIMIZERS[opt], x, y, 7, l2=0.01)


def test_no_bias_and_flatten(rng):
    x = rng.normal(size=(N, 1, 2, 2))
    y = (x.sum(axis=(1, 2, 3)) > 0).astype(F64)
    layers = lambda d: [nn.Flatten(dtype=d), nn.Dense(4, 3, bias=False, dtype=d), nn.Tanh(dtype=d),  # noqa: E731
                        nn.Dense(3, 1, dtype=d), nn.Sigmoid(dtype=d)]
    _compare(layers, "bce", SGD, x, y, 5)


def test_float32_close(rng):
    x, y = _data(rng)
    _compare(_mlp(ACTIVATIONS["sigmoid"], ACTIVATIONS["sigmoid"]), "bce", OPTIMIZERS["adam"], x, y, 7,
             dtype=np.float32, tol=2e-5)


def test_alternating_shares_state(rng):
    """Native and Python epochs interleaved on one network give the all-Python result: parameters,
    gradients, optimizer state and step count are shared."""
    x, y = _data(rng)
    layers = _mlp(ACTIVATIONS["sigmoid"], ACTIVATIONS["sigmoid"])
    ref = _net(layers, "mse", OPTIMIZERS["adam"])
    ref_hist = ref.fit(x, y, epochs=4, batch_size=5, verbose=0, seed=2)
    net = _net(layers, "mse", OPTIMIZERS["adam"])
    rng_fit = np.random.default_rng(2)
    plan = NativePlan.from_network(net)
    xp, t = _prepared(net, x, y)
    losses = []
    for epoch in range(4):
        if epoch % 2 == 0:
            losses.append(plan.run_epoch(xp, t, rng_fit.permutation(N), 5)[0])
        else:
            # A one-epoch Python fit drawing the permutation from the same generator state.
            net._rng = rng_fit
            losses.append(net.fit(x, y, epochs=1, batch_size=5, verbose=0)["loss"][0])
    np.testing.assert_allclose(losses, ref_hist["loss"], rtol=1e-10)
    _assert_same_state(ref, net, 1e-10)


def test_run_epochs_matches_run_epoch(rng):
    x, y = _data(rng)
    layers = _mlp(ACTIVATIONS["tanh"], ACTIVATIONS["sigmoid"])
    a, b = _net(layers, "bce", SGD), _net(layers, "bce", SGD)
    xa, ta = _prepared(a, x, y)
    pa, pb = NativePlan.from_network(a), NativePlan.from_network(b)
    perms = np.stack([np.random.default_rng(k).permutation(N) for k in range(3)])
    one = [pa.run_epoch(xa, ta, perms[k], 4) for k in range(3)]
    losses, accs = pb.run_epochs(xa, ta, 3, perms, 4)
    np.testing.assert_array_equal(losses, [r[0] for r in one])
    np.testing.assert_array_equal(accs, [r[1] for r in one])
    # Full batch in order: later epochs reuse the gathered batch, which must not change the result.
    full_one = [pa.run_epoch(xa, ta) for _ in range(3)]
    full_losses, _ = pb.run_epochs(xa, ta, 3)
    np.testing.assert_array_equal(full_losses, [r[0] for r in full_one])
    _assert_same_state(a, b, 0)


def test_plan_rebuilds_after_changes(rng):
    x, y = _data(rng)
    net = _net(_mlp(ACTIVATIONS["relu"], ACTIVATIONS["sigmoid"]), "bce", SGD)
    plan = NativePlan.from_network(net)
    xp, t = _prepared(net, x, y)
    plan.run_epoch(xp, t)
    net.compile(optimizer=optim.Adam(lr=0.01), l2=0.1)  # new optimizer (fresh state) and L2
    ref = _net(_mlp(ACTIVATIONS["relu"], ACTIVATIONS["sigmoid"]), "bce", SGD)
    ref.fit(x, y, epochs=1, verbose=0)
    ref.compile(optimizer=optim.Adam(lr=0.01), l2=0.1)
    ref_loss = ref.fit(x, y, epochs=1, verbose=0)["loss"][0]
    assert plan.run_epoch(xp, t)[0] == pytest.approx(ref_loss, rel=1e-10)
    _assert_same_state(ref, net, 1e-10)


def test_unsupported_networks_fall_back():
    conv = Network([nn.Conv2D(1, 2, 3), nn.Flatten(), nn.Dense(2, 1)], loss="mse", optimizer="sgd")
    assert NativePlan.from_network(conv) is None
    numpy_backend = Network([nn.Dense(2, 1)], loss="mse", optimizer="sgd", backend="numpy")
    assert NativePlan.from_network(numpy_backend) is None
    no_optimizer = Network([nn.Dense(2, 1)], loss="mse")
    assert NativePlan.from_network(no_optimizer) is None
    leading_activation = Network([nn.ReLU(), nn.Dense(2, 1)], loss="mse", optimizer="sgd")
    assert NativePlan.from_network(leading_activation) is None


def test_divergence_raises(rng):
    x, y = _data(rng)
    net = _net(_mlp(ACTIVATIONS["relu"]), "mse", lambda: optim.SGD(lr=1e6))
    plan = NativePlan.from_network(net)
    xp, t = _prepared(net, x * 1e200, y)
    with pytest.raises(ValueError, match="NaN"):
        for _ in range(5):
            plan.run_epoch(xp, t)


def test_every_simd_level(rng, simd_level):
    # The epoch loop is compiled once per instruction set; each copy must train identically.
    x, labels = _data(rng, classes=3)
    _compare(_mlp(ACTIVATIONS["sigmoid"], out=3), "cross_entropy", OPTIMIZERS["adam"], x, labels, 7)
    x, y = _data(rng)
    _compare(_mlp(ACTIVATIONS["tanh"], ACTIVATIONS["sigmoid"]), "bce", SGD, x, y, None)


# ---- bad input, straight at the binding ---------------------------------------------------------------

def _trainer(dtype=F64, loss="mse", **opt):
    w = np.zeros((2, 3), dtype)
    b = np.zeros(3, dtype)
    w2 = np.zeros((3, 1), dtype)
    layers = [("dense", w, b), ("sigmoid",), ("dense", w2, None)]
    return _core.NativeTrainer(layers, loss, {"name": "sgd", "lr": 0.1, **opt})


def test_bad_construction():
    w = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"layers\[1\] W has shape \(4, 1\) but the layer before gives 3"):
        _core.NativeTrainer([("dense", w, None), ("dense", np.zeros((4, 1)), None)], "mse", {"name": "sgd"})
    with pytest.raises(TypeError, match=r"layers\[1\] W has dtype float32"):
        _core.NativeTrainer([("dense", w, None), ("dense", np.zeros((3, 1), np.float32), None)], "mse", {"name": "sgd"})
    with pytest.raises(ValueError, match=r"layers\[0\] b must have shape \(3,\)"):
        _core.NativeTrainer([("dense", w, np.zeros(2))], "mse", {"name": "sgd"})
    with pytest.raises(ValueError, match=r"read-only"):
        ro = np.zeros((2, 3))
        ro.flags.writeable = False
        _core.NativeTrainer([("dense", ro, None)], "mse", {"name": "sgd"})
    with pytest.raises(ValueError, match="not C-contiguous"):
        _core.NativeTrainer([("dense", np.zeros((3, 2)).T, None)], "mse", {"name": "sgd"})
    with pytest.raises(ValueError, match="unknown type 'gelu'"):
        _core.NativeTrainer([("dense", w, None), ("gelu",)], "mse", {"name": "sgd"})
    with pytest.raises(ValueError, match="loss must be one of"):
        _core.NativeTrainer([("dense", w, None)], "hinge", {"name": "sgd"})
    with pytest.raises(ValueError, match="unknown optimizer setting 'momentun'"):
        _core.NativeTrainer([("dense", w, None)], "mse", {"name": "sgd", "momentun": 0.9})
    with pytest.raises(ValueError, match=r"state\[0\] \(layers\[0\] W\) lacks 'exp_avg_sq'"):
        _core.NativeTrainer([("dense", w, None)], "mse", {"name": "adam", "state": [{"exp_avg": np.zeros((2, 3))}]})
    with pytest.raises(ValueError, match="sigmoid clip"):
        _core.NativeTrainer([("dense", w, None), ("sigmoid", 0.7)], "mse", {"name": "sgd"})


def test_bad_epoch_input():
    tr = _trainer()
    x, t = np.zeros((5, 2)), np.zeros((5, 1))
    with pytest.raises(ValueError, match=r"run_epoch: x must have shape \(N, 2\).*got \(5, 3\)"):
        tr.run_epoch(np.zeros((5, 3)), t)
    with pytest.raises(TypeError, match=r"run_epoch: x has dtype float32"):
        tr.run_epoch(x.astype(np.float32), t)
    with pytest.raises(TypeError, match="run_epoch: x must be a numpy.ndarray"):
        tr.run_epoch([[0.0, 0.0]], t)
    with pytest.raises(ValueError, match=r"run_epoch: target must have shape \(5, 1\)"):
        tr.run_epoch(x, np.zeros((4, 1)))
    with pytest.raises(TypeError, match="integer target labels need loss cross_entropy"):
        tr.run_epoch(x, np.zeros(5, np.int64))
    with pytest.raises(ValueError, match=r"run_epoch: perm must have shape \(5,\)"):
        tr.run_epoch(x, t, np.arange(4))
    with pytest.raises(ValueError, match=r"perm value 5 at flat index 0 is out of range \[0, 5\)"):
        tr.run_epoch(x, t, np.array([5, 0, 1, 2, 3]))
    with pytest.raises(TypeError, match="perm must be an integer"):
        tr.run_epoch(x, t, np.zeros(5))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        tr.run_epoch(x, t, batch_size=0)
    bad = x.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match=r"run_epoch: x with shape \(5, 2\) contains NaN"):
        tr.run_epoch(bad, t)
    with pytest.raises(ValueError, match="run_epochs: perms must have shape \\(2, 5\\)"):
        tr.run_epochs(x, t, np.zeros((3, 5), np.int64), epochs=2)
    ce = _core.NativeTrainer([("dense", np.zeros((2, 3)), None)], "cross_entropy", {"name": "sgd", "lr": 0.1})
    with pytest.raises(ValueError, match=r"target value 3 at flat index 2 is out of range \[0, 3\)"):
        ce.run_epoch(x, np.array([0, 1, 3, 0, 0]))
    bce = _trainer(loss="bce")
    with pytest.raises(ValueError, match=r"target values must lie in \[0, 1\]"):
        bce.run_epoch(x, t + 2)


@pytest.mark.skipif(not hasattr(Network([nn.Dense(1, 1)]), "native"), reason="Network.fit does not use pydl.native yet")
@pytest.mark.parametrize("batch_size", [5, None])
def test_fit_native_matches_python_loop(rng, batch_size):
    x, y = _data(rng)
    layers = _mlp(ACTIVATIONS["sigmoid"], ACTIVATIONS["sigmoid"])
    native, python = _net(layers, "bce", OPTIMIZERS["adam"]), _net(layers, "bce", OPTIMIZERS["adam"])
    python.native = False
    h_native = native.fit(x, y, epochs=3, batch_size=batch_size, verbose=0, seed=4)
    h_python = python.fit(x, y, epochs=3, batch_size=batch_size, verbose=0, seed=4)
    assert sorted(h_native.history) == sorted(h_python.history)
    for key in ("loss", "accuracy", "cost", "lr"):
        np.testing.assert_allclose(h_native[key], h_python[key], rtol=1e-10, err_msg=key)
    _assert_same_state(python, native, 1e-10)


def test_plan_follows_rebound_optimizer_and_backend(rng):
    x, y = _data(rng)
    net = _net(_mlp(ACTIVATIONS["relu"], ACTIVATIONS["sigmoid"]), "bce", OPTIMIZERS["adam"])
    plan = NativePlan.from_network(net)
    xp, t = _prepared(net, x, y)
    plan.run_epoch(xp, t, batch_size=5)
    net.optimizer.bind(net.parameters())  # same optimizer, fresh state list and step count
    plan.run_epoch(xp, t, batch_size=5)
    assert net.optimizer.steps == 5
    net.compile(optimizer=optim.SGD(lr=0.1))
    for layer in net.layers:
        layer.backend = "numpy"
    with pytest.raises(RuntimeError, match="cannot train"):
        plan.run_epoch(xp, t)
