"""Network.save / pydl.load: one .npz, no pickle, atomic, clear errors for bad files."""
import json
import os

import numpy as np
import pytest

import pydl
from pydl import nn, optim


def dense_net():
    return pydl.Network([nn.Dense(2, 4, activation="tanh"), nn.Dense(4, 3), nn.Softmax()], loss="mse",
                        optimizer=optim.Adam(lr=0.01), l2=0.001, seed=0)


def conv_net():
    return pydl.Network([nn.Conv2D(1, 2, 3, stride=2, padding=1), nn.ReLU(), nn.AvgPool2D(2), nn.Flatten(),
                         nn.Dense(2, 1), nn.Sigmoid(clip=1e-6)], loss="bce", dtype="float64", seed=1)


@pytest.mark.parametrize("make,shape", [(dense_net, (5, 2)), (conv_net, (5, 1, 4, 4))])
def test_save_then_load_predicts_identically(make, shape, tmp_path):
    net = make()
    x = np.random.default_rng(0).standard_normal(shape)
    net.save(tmp_path / "net.npz")
    loaded = pydl.load(tmp_path / "net.npz")
    np.testing.assert_array_equal(loaded.predict_proba(x), net.predict_proba(x))
    assert repr(loaded) == repr(net)


def test_loaded_network_keeps_loss_l2_dtype_and_optimizer_settings(tmp_path):
    dense_net().save(tmp_path / "net.npz")
    loaded = pydl.load(tmp_path / "net.npz")
    assert (loaded.loss.name, loaded.l2, loaded.dtype) == ("mse", 0.001, np.float32)
    assert isinstance(loaded.optimizer, optim.Adam) and loaded.optimizer.lr == 0.01


def test_loaded_network_can_train_on(tmp_path):
    dense_net().save(tmp_path / "net.npz")
    loaded = pydl.load(tmp_path / "net.npz")
    loaded.fit(np.zeros((4, 2)), np.array([0, 1, 2, 0]), epochs=1, verbose=0)


def test_file_is_readable_without_pickle_and_describes_the_architecture(tmp_path):
    dense_net().save(tmp_path / "net.npz")
    with np.load(tmp_path / "net.npz", allow_pickle=False) as data:
        arch = json.loads(str(data["__pydl_architecture__"]))
        assert data["layer0.W"].shape == (2, 4)
    assert [layer["class"] for layer in arch["layers"]] == ["Dense", "Dense", "Softmax"]
    assert arch["layers"][0]["config"] == {"in_features": 2, "out_features": 4, "activation": "tanh"}


def test_save_overwrites_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "net.npz"
    path.write_bytes(b"old")
    dense_net().save(path)
    assert os.listdir(tmp_path) == ["net.npz"]
    pydl.load(path)


def test_a_truncated_file_is_a_clear_value_error(tmp_path):
    path = tmp_path / "net.npz"
    dense_net().save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="is not a pydl network file|is corrupted"):
        pydl.load(path)


def test_random_bytes_are_a_clear_value_error(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(os.urandom(256))
    with pytest.raises(ValueError, match="is not a pydl network file"):
        pydl.load(path)


def test_a_foreign_npz_is_a_clear_value_error(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, weights=np.zeros(3))
    with pytest.raises(ValueError, match="no __pydl_architecture__ record"):
        pydl.load(path)


def test_weights_of_the_wrong_shape_are_a_clear_value_error(tmp_path):
    path = tmp_path / "net.npz"
    net = dense_net()
    arrays = {"__pydl_architecture__": np.array(json.dumps({
        "format": "pydl.network", "version": 1, "dtype": "float32", "input_shape": None, "seed": None,
        "layers": [{"class": "Dense", "config": {"in_features": 2, "out_features": 4}}],
        "loss": None, "l2": 0.0, "backend": None, "optimizer": None}))}
    arrays["layer0.W"] = np.zeros((3, 3), dtype=np.float32)
    arrays["layer0.b"] = net.layers[0].params["b"]
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=r"'layer0.W' has shape \(3, 3\), the architecture needs \(2, 4\)"):
        pydl.load(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        pydl.load(tmp_path / "absent.npz")
