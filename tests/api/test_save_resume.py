"""Saving for going on later: include_optimizer keeps the optimizer state, step count and the network's
generator so training resumes bit for bit; users' layer classes load once registered."""
import json
import zipfile

import numpy as np
import pytest

import pydl
from pydl import nn, optim
from pydl.serialization import UnregisteredLayer

OPTIMIZERS = {"sgd momentum": lambda: optim.SGD(lr=0.05, momentum=0.9),
              "rmsprop": lambda: optim.RMSprop(lr=0.01, centered=True, momentum=0.3),
              "adam": lambda: optim.Adam(lr=0.01)}


def _net(opt):
    return pydl.Network([nn.Dense(3, 6, activation="tanh", dtype="float64"), nn.Dense(6, 3, dtype="float64")],
                        loss="cross_entropy", optimizer=OPTIMIZERS[opt](), dtype="float64", seed=1)


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(40, 3)), rng.integers(0, 3, 40)


@pytest.mark.parametrize("native", [True, False], ids=["plan", "step by step"])
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_resumed_training_equals_uninterrupted_training(opt, native, tmp_path):
    x, y = _data()
    whole = _net(opt)
    whole.native = native
    whole.fit(x, y, epochs=4, batch_size=8, verbose=0)  # no seed: the network's generator shuffles
    first = _net(opt)
    first.native = native
    first.fit(x, y, epochs=2, batch_size=8, verbose=0)
    first.save(tmp_path / "half.npz", include_optimizer=True)
    resumed = pydl.load(tmp_path / "half.npz")
    resumed.native = native
    resumed.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert resumed.optimizer.steps == whole.optimizer.steps == 20
    for a, b in zip(whole.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
        for key, value in whole.optimizer.state_of(a).items():
            np.testing.assert_array_equal(value, resumed.optimizer.state_of(b)[key])


def test_without_the_optimizer_a_loaded_network_starts_its_optimizer_afresh(tmp_path):
    x, y = _data()
    net = _net("adam")
    net.fit(x, y, epochs=1, batch_size=8, verbose=0)
    net.save(tmp_path / "weights.npz")
    loaded = pydl.load(tmp_path / "weights.npz")
    assert loaded.optimizer.steps == 0 and loaded.optimizer.state_of(loaded.parameters()[0]) == {}
    with zipfile.ZipFile(tmp_path / "weights.npz") as z:
        assert not [n for n in z.namelist() if n.startswith("optimizer.")]


def test_a_damaged_training_state_is_refused(tmp_path):
    x, y = _data()
    net = _net("adam")
    net.fit(x, y, epochs=1, batch_size=8, verbose=0)
    arrays = pydl.serialization.to_arrays(net, include_optimizer=True)
    arch = json.loads(str(arrays["__pydl_architecture__"]))
    bad_generator = dict(arch, training_state=dict(arch["training_state"], generator={"bit_generator": "os.system"}))
    wrong_shape = dict(arrays, **{"optimizer.0.exp_avg": np.zeros((2, 2))})
    for case, (record, members) in {"generator": (bad_generator, arrays), "state shape": (arch, wrong_shape)}.items():
        members = dict(members, __pydl_architecture__=np.array(json.dumps(record)))
        np.savez(tmp_path / f"{case}.npz", **members)
        with pytest.raises(ValueError, match="corrupted or incompatible"):
            pydl.load(tmp_path / f"{case}.npz")


class Scale(nn.Layer):
    """A user's layer with a parameter: y = x * s."""

    output_kind = "real"

    def __init__(self, features, dtype="float32"):
        super().__init__(dtype)
        self.features = features
        self._add_parameter("s", (features,), regularizable=False)
        self._parameters["s"].data[...] = 2.0

    def forward(self, x):
        self._x = x
        return x * self._parameters["s"].data

    def backward(self, dy, need_dx=True):
        self._parameters["s"].grad[...] = (dy * self._x).sum(axis=0)
        return dy * self._parameters["s"].data if need_dx else None

    def get_config(self):
        return {"features": self.features}


def _with_custom_layer():
    return pydl.Network([nn.Dense(3, 4, dtype="float64"), Scale(4), nn.Dense(4, 2, dtype="float64")], loss="mse",
                        optimizer=optim.SGD(lr=0.1), dtype="float64", seed=0)


def test_an_unregistered_layer_class_is_named_in_the_error(tmp_path, monkeypatch):
    monkeypatch.delitem(pydl.nn.REGISTERED, "Scale", raising=False)
    _with_custom_layer().save(tmp_path / "custom.npz")
    with pytest.raises(UnregisteredLayer, match=r"layer 1 \(Scale\) is a layer class not registered here.*"
                                                r"@pydl.register_layer") as caught:
        pydl.load(tmp_path / "custom.npz")
    assert "corrupted" not in str(caught.value)


def test_a_registered_layer_round_trips(tmp_path, monkeypatch):
    monkeypatch.delitem(pydl.nn.REGISTERED, "Scale", raising=False)
    assert pydl.register_layer(Scale) is Scale
    net = _with_custom_layer()
    x, y = np.random.default_rng(0).normal(size=(10, 3)), np.random.default_rng(1).normal(size=(10, 2))
    net.fit(x, y, epochs=2, verbose=0)
    net.save(tmp_path / "custom.npz", include_optimizer=True)
    loaded = pydl.load(tmp_path / "custom.npz")
    assert isinstance(loaded.layers[1], Scale)
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


def test_register_layer_as_a_decorator_with_a_name(monkeypatch):
    monkeypatch.setattr(pydl.nn, "REGISTERED", {})
    monkeypatch.setattr(pydl.serialization, "REGISTERED", pydl.nn.REGISTERED)

    @pydl.register_layer(name="course.Scale")
    class MyScale(Scale):
        pass

    assert pydl.nn.REGISTERED == {"course.Scale": MyScale}
    with pytest.raises(ValueError, match="already belongs to"):
        pydl.register_layer(Scale, name="course.Scale")
    with pytest.raises(ValueError, match="already belongs to Dense"):
        pydl.register_layer(Scale, name="Dense")
    with pytest.raises(TypeError, match="Layer subclass"):
        pydl.register_layer(int)
