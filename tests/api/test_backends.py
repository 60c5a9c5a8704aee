"""Backends own memory.

A backend provides the kernels *and* the arrays they work on. Everything a network keeps (parameters,
gradients, layer buffers, loss buffers, optimizer state) is allocated through the network's backend; a
network lives on one device, moves with ``net.to(device)``, and refuses arrays of another device instead
of copying them. The API suite at the end runs on a backend whose arrays are not NumPy arrays
(tests/wrapped_backend.py), which proves that nothing touches memory behind the backend's back.
"""
import json

import numpy as np
import pytest
from wrapped_backend import WRAPPED, WrappedArray

import pydl
from pydl import backends, losses, nn, optim
from pydl.serialization import to_arrays

# Tests taking ``device`` run on every device (the fixture in tests/conftest.py).


def _data(n=24, features=2, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, features))
    return x, rng.integers(0, classes, n)


def _mlp(device, optimizer="adam", dtype="float64"):
    return pydl.Network([nn.Dense(2, 5), nn.Tanh(), nn.Dense(5, 3)], loss="cross_entropy", optimizer=optimizer,
                        dtype=dtype, seed=1, device=device)


def _cnn(device):
    layers = [nn.Conv2D(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2D(2), nn.AvgPool2D(1), nn.Flatten(),
              nn.Dense(8, 1), nn.Sigmoid(clip=1e-7)]
    return pydl.Network(layers, loss="bce", optimizer=optim.SGD(lr=0.1, momentum=0.9), dtype="float64", seed=2,
                        device=device)


def _cnn_data():
    rng = np.random.default_rng(3)
    return rng.standard_normal((6, 1, 4, 4)), rng.integers(0, 2, 6)


def _host(device, a):
    return backends.get(device).to_numpy(a)


def _arrays_of(net):
    """Every array the network keeps: parameters, gradients, layer buffers, loss buffers, optimizer state."""
    arrays = [a for p in net.parameters() for a in (p.data, p.grad)]
    arrays += [a for layer in net.layers for a in layer._buffers.values()]
    arrays += list(net.loss._grads.values())
    arrays += [a for state in (net.optimizer._state or []) for a in state.values()]
    return arrays


# ---- names ---------------------------------------------------------------------------------------

def test_names_say_what_runs():
    assert backends.get("cpu").kernels is pydl.kernels
    assert backends.get("numpy").kernels is pydl.reference
    assert {"cpu", "numpy"} <= set(backends.names())


@pytest.mark.parametrize("alias,name", [("cpp", "cpu"), ("c++", "cpu"), ("kernels", "cpu"), ("CPU", "cpu"),
                                        ("reference", "numpy"), ("NumPy", "numpy")])
def test_old_names_stay_aliases(alias, name):
    assert backends.get(alias) is backends.get(name)
    assert pydl.Network([nn.Dense(2, 1)], backend=alias).device == name


def test_the_default_is_cpu_and_set_backend_takes_names_and_objects(monkeypatch):
    monkeypatch.setattr(backends, "_default", backends.CPU)
    assert pydl.get_backend() == "cpu"
    pydl.set_backend("reference")
    assert pydl.get_backend() == "numpy" and nn.ReLU().kernels is pydl.reference
    pydl.set_backend(backends.CPU)
    assert pydl.get_backend() == "cpu"


def test_pydl_backend_is_the_same_module():
    assert pydl.backend is backends
    assert backends.resolve("cpp") is pydl.kernels


def test_unknown_names_raise_listing_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown backend 'tpu'; known: 'cpu' \(aliases 'cpp', 'c\+\+', 'kernels'\)"):
        backends.get("tpu")
    with pytest.raises(TypeError, match="backend must be a name"):
        backends.get(3)


def test_register_refuses_a_name_of_another_backend():
    with pytest.raises(ValueError, match="'cpp' already belongs"):
        backends.register(backends.HostBackend("mine", pydl.reference), "cpp")
    assert backends.register(WRAPPED) is WRAPPED  # again: allowed


def test_kernel_functions_are_attributes_of_the_backend():
    assert backends.CPU.dense_forward is pydl.kernels.dense_forward
    assert backends.NUMPY.relu is pydl.reference.relu
    with pytest.raises(AttributeError, match="backend 'cpu' has no kernel or method 'no_such_kernel'"):
        backends.CPU.no_such_kernel


def test_a_kernel_module_is_a_host_backend():
    assert backends.get(pydl.reference) is backends.NUMPY
    assert pydl.Network([nn.Dense(2, 1)], backend=pydl.kernels).device == "cpu"


# ---- allocation ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_allocation(device, dtype):
    dev = backends.get(device)
    for a in (dev.empty((2, 3), dtype), dev.zeros((2, 3), dtype)):
        assert dev.owns(a) and a.shape == (2, 3) and a.dtype == dtype and a.ndim == 2
    assert not dev.to_numpy(dev.zeros((4,), dtype)).any()


def test_from_numpy_and_to_numpy_copy(device):
    dev, values = backends.get(device), np.arange(6.0).reshape(2, 3)
    a = dev.from_numpy(values)
    values[0, 0] = 99
    back = dev.to_numpy(a)
    assert isinstance(back, np.ndarray) and back.tolist() == [[0, 1, 2], [3, 4, 5]]
    back[0, 0] = -1
    assert dev.to_numpy(a)[0, 0] == 0


def test_array_helpers(device):
    dev = backends.get(device)
    a = dev.from_numpy(np.arange(12.0).reshape(4, 3))
    assert dev.to_numpy(dev.rows(a, 1, 3)).tolist() == [[3, 4, 5], [6, 7, 8]]
    assert dev.to_numpy(dev.reshape(a, (2, -1))).shape == (2, 6)
    b = dev.copy(a)
    dev.fill_(a, 0.5)
    assert dev.to_numpy(b)[3, 2] == 11 and (dev.to_numpy(a) == 0.5).all()
    dev.copy_(a, b)
    assert dev.to_numpy(a)[3, 2] == 11
    dev.copy_(a, np.ones((4, 3), np.float32))  # from NumPy, cast to a's dtype
    assert dev.to_numpy(a).dtype == np.float64 and dev.all_finite(a)
    dev.fill_(a, np.inf)
    assert not dev.all_finite(a)


def test_host_backends_share_memory_and_the_wrapped_one_does_not():
    assert backends.CPU.same_memory(backends.NUMPY)
    assert not backends.CPU.same_memory(WRAPPED)
    assert backends.owner(np.zeros(2)).host and backends.owner(WRAPPED.zeros(2, np.float32)) is WRAPPED
    assert backends.owner([1, 2]) is None


def test_wrapped_arrays_offer_numpy_no_way_in():
    a = WRAPPED.zeros((2, 2), np.float64)
    for attribute in ("__array__", "__array_interface__", "__getitem__", "__add__", "__mul__", "copy", "size"):
        assert not hasattr(a, attribute)
    with pytest.raises(TypeError):
        memoryview(a)
    with pytest.raises(TypeError):
        a == a  # noqa: B015
    with pytest.raises(TypeError, match="NumPy array reached the wrapped backend"):
        WRAPPED.relu(np.zeros(3))


# ---- one device per network ----------------------------------------------------------------------

def test_everything_a_network_keeps_lives_on_its_device(device):
    net, (x, y) = _mlp(device), _data()
    net.evaluate(x, y)
    net.optimizer.step()  # creates the state
    assert net.device == device and net.backend == device
    dev = backends.get(device)
    assert all(dev.owns(a) for a in _arrays_of(net)) and len(_arrays_of(net)) > 12
    assert all(layer.device == device for layer in net.layers)


def test_device_and_backend_are_one_argument():
    assert pydl.Network([nn.Dense(2, 1)], device="numpy", backend="reference").device == "numpy"
    assert pydl.Network([nn.Dense(2, 1)], device=WRAPPED).device == "wrapped"
    with pytest.raises(ValueError, match="device='numpy' and backend='cpp' name different backends"):
        pydl.Network([nn.Dense(2, 1)], device="numpy", backend="cpp")


def test_without_a_device_the_network_follows_the_default():
    net = pydl.Network([nn.Dense(2, 1)])
    assert net.backend is None and net.device == pydl.get_backend()


@pytest.mark.parametrize("src,dst", [("cpu", "numpy"), ("numpy", "wrapped"), ("wrapped", "cpu"), ("cpu", "cuda-sim"),
                                     ("cuda-sim", "wrapped")])
def test_to_moves_parameters_and_optimizer_state_with_their_values(src, dst):
    net, (x, y) = _mlp(src), _data()
    net.evaluate(x, y)
    net.optimizer.step()

    def kept():
        return [a for p in net.parameters() for a in (p.data, p.grad)] + \
            [a for state in net.optimizer._state for a in state.values()]
    before = [_host(src, a) for a in kept()]
    steps, lr = net.optimizer.steps, net.optimizer.lr
    assert net.to(dst) is net
    assert net.device == dst and net.loss.backend.name == dst and net.optimizer.backend.name == dst
    assert all(backends.get(dst).owns(a) for a in kept()) and len(kept()) == 16
    assert all(np.array_equal(a, _host(dst, b)) for a, b in zip(before, kept()))
    assert (net.optimizer.steps, net.optimizer.lr) == (steps, lr)
    net.evaluate(x, y)  # buffers reallocated on the new device
    assert all(backends.get(dst).owns(a) for a in _arrays_of(net))


def test_moving_between_host_backends_copies_nothing():
    net = _mlp("cpu")
    net.optimizer.step()
    arrays = _arrays_of(net)
    net.to("numpy")
    assert all(a is b for a, b in zip(arrays, _arrays_of(net)))


@pytest.mark.parametrize("detour", [["numpy", "cpu"], ["wrapped", "numpy"], ["cuda-sim", "cpu"]])
def test_a_round_trip_trains_like_staying(detour):
    x, y = _data(seed=4)
    start = detour[-1]
    stay, moved = _mlp(start), _mlp(start)
    stay.fit(x, y, epochs=4, batch_size=8, verbose=0)
    moved.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for device in detour:
        moved.to(device)
    moved.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for (name, a), (_, b) in zip(stay.named_parameters(), moved.named_parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12, atol=1e-12, err_msg=name)


def test_training_on_numpy_after_cpu_gives_the_same_weights():
    x, y = _data(seed=5)
    cpu, mixed = _mlp("cpu"), _mlp("cpu")
    cpu.fit(x, y, epochs=4, batch_size=8, verbose=0)
    mixed.fit(x, y, epochs=2, batch_size=8, verbose=0)
    mixed.to("numpy").fit(x, y, epochs=2, batch_size=8, verbose=0)
    mixed.to("cpu")
    for (name, a), (_, b) in zip(cpu.named_parameters(), mixed.named_parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12, atol=1e-12, err_msg=name)


# ---- mixing devices raises, never copies -----------------------------------------------------------

@pytest.mark.parametrize("call", ["fit", "predict", "predict_proba", "evaluate", "train_step", "forward"])
def test_arrays_of_another_device_raise_naming_the_argument(call):
    net, (x, y) = _mlp("cpu"), _data()
    wx, wy = WRAPPED.from_numpy(x), WRAPPED.from_numpy(y)
    args = {"fit": (wx, y), "predict": (wx,), "predict_proba": (wx,), "evaluate": (wx, y), "train_step": (wx, y),
            "forward": (wx,)}[call]
    message = f"{call}: x is an array of device 'wrapped', but the network is on 'cpu'"
    with pytest.raises(TypeError, match=message):
        getattr(net, call)(*args)
    if len(args) == 2:
        with pytest.raises(TypeError, match=f"{call}: y is an array of device 'wrapped'"):
            getattr(net, call)(x, wy)


def test_validation_data_and_dy_of_another_device_raise():
    net, (x, y) = _mlp("numpy"), _data()
    with pytest.raises(TypeError, match="fit: validation_data: x is an array of device 'wrapped'"):
        net.fit(x, y, validation_data=(WRAPPED.from_numpy(x), y), verbose=0)
    net.forward(x)
    with pytest.raises(TypeError, match="backward: dy is an array of device 'wrapped'"):
        net.backward(WRAPPED.zeros((24, 3), np.float64))


def test_a_network_takes_arrays_of_its_own_device():
    net, (x, y) = _mlp("wrapped"), _data()
    np.testing.assert_array_equal(net.predict_proba(WRAPPED.from_numpy(x)), net.predict_proba(x))
    assert net.evaluate(WRAPPED.from_numpy(x), WRAPPED.from_numpy(y)) == net.evaluate(x, y)


def test_layers_on_another_device_need_device_or_to():
    with pytest.raises(ValueError, match="layer 1 holds arrays of device 'wrapped', the network computes on 'cpu'"):
        pydl.Network([nn.Dense(2, 3), nn.Dense(3, 1, backend=WRAPPED)], device=None)
    net = pydl.Network([nn.Dense(2, 3), nn.Dense(3, 1, backend=WRAPPED)], device="wrapped")
    assert all(isinstance(p.data, WrappedArray) for p in net.parameters())


def test_setting_a_backend_on_other_memory_raises_instead_of_moving():
    layer = nn.Dense(2, 3, backend="cpu")
    layer.backend = "numpy"  # same memory: fine
    with pytest.raises(ValueError, match=r"Dense: its arrays are on 'numpy'; move them with .to\('wrapped'\)"):
        layer.backend = "wrapped"
    net = _mlp("cpu")
    net.optimizer.step()
    with pytest.raises(ValueError, match=r"Adam: its state is on 'cpu'; move it with .to\('wrapped'\)"):
        net.optimizer.backend = WRAPPED
    net.backend = "wrapped"  # a network's backend is its device: setting it moves
    assert net.device == "wrapped" and isinstance(net.optimizer._state[0]["exp_avg"], WrappedArray)


def test_a_loss_on_one_device_refuses_arrays_of_another():
    loss = losses.MSELoss(backend=WRAPPED)
    with pytest.raises(TypeError, match="NumPy array reached the wrapped backend"):
        loss(np.zeros((2, 1)), np.zeros((2, 1)))


# ---- saved files ---------------------------------------------------------------------------------

def _save_with_backend_name(net, path, name):
    arrays = to_arrays(net)
    arch = json.loads(str(arrays["__pydl_architecture__"]))
    arch["backend"] = name
    arrays["__pydl_architecture__"] = np.array(json.dumps(arch))
    np.savez(path, **arrays)


@pytest.mark.parametrize("name,device", [("cpp", "cpu"), ("numpy", "numpy"), (None, pydl.get_backend())])
def test_files_saved_before_keep_loading(tmp_path, name, device):
    net, (x, _) = _mlp("cpu"), _data()
    _save_with_backend_name(net, tmp_path / "old.npz", name)
    loaded = pydl.load(tmp_path / "old.npz")
    assert loaded.device == device
    np.testing.assert_allclose(loaded.predict_proba(x), net.predict_proba(x), rtol=1e-12)


def test_files_record_the_device_and_load_can_choose_another(tmp_path, device):
    net, (x, _) = _mlp(device), _data()
    net.save(tmp_path / "net.npz")
    assert pydl.load(tmp_path / "net.npz").device == device
    elsewhere = pydl.load(tmp_path / "net.npz", device="numpy" if device == "wrapped" else "wrapped")
    np.testing.assert_allclose(elsewhere.predict_proba(x), net.predict_proba(x), rtol=1e-12)


def test_a_file_naming_an_unknown_device_needs_device(tmp_path):
    _save_with_backend_name(_mlp("cpu"), tmp_path / "tpu.npz", "tpu")
    with pytest.raises(ValueError, match="saved on a device unknown here.*'tpu'"):
        pydl.load(tmp_path / "tpu.npz")
    assert pydl.load(tmp_path / "tpu.npz", device="cpu").device == "cpu"


def test_a_file_saved_on_a_gpu_loads_elsewhere_with_device(tmp_path):
    _save_with_backend_name(_mlp("cpu"), tmp_path / "gpu.npz", "cuda")
    if not pydl.cuda.is_available():
        with pytest.raises(ValueError, match="saved on a device that is not available here.*device='cpu'"):
            pydl.load(tmp_path / "gpu.npz")
    assert pydl.load(tmp_path / "gpu.npz", device="cpu").device == "cpu"


# ---- the API on every device, the wrapped one included -------------------------------------------

@pytest.mark.parametrize("make,data", [(_mlp, _data), (_cnn, _cnn_data)], ids=["mlp", "cnn"])
def test_inference_matches_the_numpy_reference(device, make, data):
    net, ref, (x, y) = make(device), make("numpy"), data()
    for call in ("predict", "predict_proba"):
        got = getattr(net, call)(x)
        assert isinstance(got, np.ndarray)
        np.testing.assert_allclose(got, getattr(ref, call)(x), rtol=1e-12, atol=1e-15, err_msg=call)
    np.testing.assert_allclose(net.predict_proba(x, batch_size=4), ref.predict_proba(x), rtol=1e-12, atol=1e-15)
    assert net.evaluate(x, y) == pytest.approx(ref.evaluate(x, y), rel=1e-12)
    assert net.evaluate(x, y, batch_size=5) == pytest.approx(ref.evaluate(x, y), rel=1e-12)


def test_forward_and_backward_return_numpy(device):
    net, ref, (x, y) = _mlp(device), _mlp("numpy"), _data()
    out = net.forward(x)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, ref.forward(x), rtol=1e-12)
    dx = net.backward(np.ones_like(out))
    assert isinstance(dx, np.ndarray)
    np.testing.assert_allclose(dx, ref.backward(np.ones_like(out)), rtol=1e-12)
    for p, q in zip(net.parameters(), ref.parameters()):
        np.testing.assert_allclose(_host(device, p.grad), q.grad, rtol=1e-12)


def test_l2_term_and_copy(device):
    net, ref, (x, y) = _mlp(device), _mlp("numpy"), _data()
    net.compile(l2=0.01)
    ref.compile(l2=0.01)
    assert net.regularization() == pytest.approx(ref.regularization(), rel=1e-12)
    twin = net.copy()
    assert twin.device == device
    np.testing.assert_array_equal(twin.predict_proba(x), net.predict_proba(x))
    assert net.copy(dtype="float32").layers[0].dtype == np.float32


def test_save_and_load(tmp_path, device):
    net, (x, _) = _cnn(device), _cnn_data()
    net.save(tmp_path / "cnn.npz")
    loaded = pydl.load(tmp_path / "cnn.npz")
    assert loaded.device == device
    np.testing.assert_array_equal(loaded.predict_proba(x), net.predict_proba(x))


def test_gradcheck(device):
    x, y = _data(n=5)
    errors = pydl.gradcheck(_mlp(device), x, y)
    assert max(errors.values()) < 1e-6, errors
    cx, _ = _cnn_data()
    layer = nn.Conv2D(1, 2, 3, padding=1, seed=0, dtype="float64", backend=device)
    assert max(pydl.gradcheck(layer, cx[:2]).values()) < 1e-6
    assert max(pydl.gradcheck(nn.Sigmoid(clip=1e-7, backend=device), x).values()) < 1e-6
    loss = losses.CrossEntropyLoss(backend=device)
    assert pydl.gradcheck(loss, x[:, :2], np.array([0, 1, 1, 0, 1]))["input"] < 1e-6


def test_profile_inference(device):
    net, (x, y) = _mlp(device), _data()
    with pydl.profile() as prof:
        net.predict(x)
        net.evaluate(x, y)
    calls = {name: s.calls for (kind, name), s in prof.stats.items()}
    assert calls["dense_forward"] == 4 and calls["Dense.forward"] == 4 and calls["softmax_cross_entropy"] == 1


@pytest.mark.parametrize("batch_size,shuffle", [(8, True), ("full", False)])
def test_fit_matches_the_numpy_reference(device, batch_size, shuffle):
    net, ref, (x, y) = _mlp(device), _mlp("numpy"), _data()
    kwargs = dict(epochs=3, batch_size=batch_size, shuffle=shuffle, validation_split=0.25, verbose=0)
    got, expected = net.fit(x, y, **kwargs), ref.fit(x, y, **kwargs)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-10, err_msg=key)
    for p, q in zip(net.parameters(), ref.parameters()):
        np.testing.assert_allclose(_host(device, p.data), q.data, rtol=1e-10, atol=1e-12)


def test_train_step(device):
    net, ref, (x, y) = _cnn(device), _cnn("numpy"), _cnn_data()
    assert net.train_step(x, y) == pytest.approx(ref.train_step(x, y), rel=1e-12)
    for p, q in zip(net.parameters(), ref.parameters()):
        np.testing.assert_allclose(_host(device, p.data), q.data, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("device", ["numpy", "wrapped"])
def test_profile_training(device):
    net, (x, y) = _mlp(device), _data()
    with pydl.profile() as prof:
        net.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert {name: s.calls for (kind, name), s in prof.stats.items()}["adam_step"] == 3 * 4


def _regularized(device):
    # No bias before batch norm: its true gradient is 0, and Adam would turn each backend's rounding noise into
    # updates of size lr.
    layers = [nn.Dense(2, 6, bias=False), nn.BatchNorm1d(6), nn.LeakyReLU(0.1), nn.Dropout(0.3), nn.Dense(6, 3)]
    return pydl.Network(layers, loss="cross_entropy", optimizer=optim.AdamW(lr=0.05), dtype="float64", seed=4,
                        device=device)


def test_dropout_batch_norm_and_adamw_train_save_and_load_alike_on_every_device(device, tmp_path):
    net, ref, (x, y) = _regularized(device), _regularized("numpy"), _data()
    kwargs = dict(epochs=3, batch_size=8, verbose=0)
    np.testing.assert_allclose(net.fit(x, y, **kwargs)["loss"], ref.fit(x, y, **kwargs)["loss"], rtol=1e-10)
    for (name, a), (_, b) in zip(net.named_buffers(), ref.named_buffers()):
        np.testing.assert_allclose(_host(device, a), b, rtol=1e-10, atol=1e-12, err_msg=name)
    net.save(tmp_path / "net.npz")
    loaded = pydl.load(tmp_path / "net.npz")
    np.testing.assert_allclose(loaded.predict_proba(x), ref.predict_proba(x), rtol=1e-10, atol=1e-12)
