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
    return pydl.Network([nn.Conv2D(1, 2, 3, stride=2, padding=1), nn.ReLU(), nn.AvgPool2D(2),
                         nn.Conv2D(2, 3, 1, activation="relu"), nn.Flatten(), nn.Dense(3, 1), nn.Sigmoid(clip=1e-6)],
                        loss="bce", dtype="float64", seed=1)


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


# ---- durable, permission-keeping saves (issue 11) -------------------------------------------------

@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_a_new_file_gets_the_umask_mode_and_an_existing_file_keeps_its_mode(tmp_path, umask):
    previous = os.umask(umask)
    try:
        dense_net().save(tmp_path / "new.npz")
        assert (tmp_path / "new.npz").stat().st_mode & 0o777 == 0o666 & ~umask
        for mode in (0o644, 0o640, 0o600):
            path = tmp_path / f"old{mode:o}.npz"
            path.write_bytes(b"old")
            os.chmod(path, mode)
            dense_net().save(path)
            assert path.stat().st_mode & 0o777 == mode
    finally:
        os.umask(previous)


def test_save_fsyncs_the_data_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    from pydl import serialization
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(serialization.os, "fsync",
                        lambda fd: (events.append(("fsync", os.path.isdir(f"/proc/self/fd/{fd}"))), real_fsync(fd)))
    monkeypatch.setattr(serialization.os, "replace", lambda a, b: (events.append(("replace",)), real_replace(a, b)))
    dense_net().save(tmp_path / "net.npz")
    assert events == [("fsync", False), ("replace",), ("fsync", True)]


@pytest.mark.parametrize("exc", [KeyboardInterrupt, OSError, RuntimeError])
def test_an_exception_during_save_leaves_no_temporary_and_the_old_file_intact(tmp_path, monkeypatch, exc):
    from pydl import serialization
    path = tmp_path / "net.npz"
    dense_net().save(path)
    before = path.read_bytes()

    def failing_savez(f, **arrays):
        f.write(b"PK partial data")
        raise exc("interrupted")

    monkeypatch.setattr(serialization.np, "savez", failing_savez)
    with pytest.raises(exc):
        dense_net().save(path)
    assert os.listdir(tmp_path) == ["net.npz"] and path.read_bytes() == before


def _dead_pid():
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("action", ["save", "load"])
def test_save_and_load_remove_stale_temporaries_of_their_target_only(tmp_path, action):
    path = tmp_path / "net.npz"
    dense_net().save(path)
    dead, live = _dead_pid(), os.getpid()
    stale = tmp_path / f".pydl-net.npz.{dead}.0123456789abcdef.tmp"
    old = tmp_path / f".pydl-net.npz.{live}.00000000000000aa.tmp"
    keep = [tmp_path / f".pydl-net.npz.{live}.fedcba9876543210.tmp",  # a save in progress
            tmp_path / f".pydl-other.npz.{dead}.0123456789abcdef.tmp",  # another target's
            tmp_path / ".pydl-net.npz.tmp", tmp_path / "notes.txt"]
    for p in [stale, old] + keep:
        p.write_bytes(b"x" * 100)
    os.utime(old, (0, 0))  # older than an hour: its PID may have been reused
    if action == "save":
        dense_net().save(path)
    else:
        pydl.load(path)
    assert not stale.exists() and not old.exists()
    assert all(p.exists() for p in keep)


def test_sigkill_during_saves_never_leaves_a_corrupt_target(tmp_path):
    # Children fork from this process (pydl already imported) and save in a loop; each is killed at a
    # random moment. The target must always load, and the next load removes the killed writers' files.
    import random
    import signal
    import time
    path = tmp_path / "net.npz"
    big = pydl.Network([nn.Dense(200, 500), nn.ReLU(), nn.Dense(500, 10)], loss="cross_entropy", seed=0)
    big.save(path)
    reference = big.predict_proba(np.ones((1, 200), np.float32))
    rng = random.Random(0)
    kills = leftovers = 0
    for _ in range(50):
        pid = os.fork()
        if pid == 0:
            try:
                while True:
                    big.save(path)
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.0, 0.03))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        kills += 1
        leftovers += len([n for n in os.listdir(tmp_path) if n.endswith(".tmp")])
        loaded = pydl.load(path)  # also cleans the dead writer's temporary
        np.testing.assert_array_equal(loaded.predict_proba(np.ones((1, 200), np.float32)), reference)
        assert os.listdir(tmp_path) == ["net.npz"]
    assert kills == 50 and leftovers > 0  # some kills did land mid-write


def test_copy_keeps_non_finite_weights_but_load_refuses_them(tmp_path):
    net = dense_net()
    net.layers[0].params["W"][0, 0] = np.nan
    assert np.isnan(net.copy().layers[0].params["W"][0, 0])
    net.save(tmp_path / "nan.npz")
    with pytest.raises(ValueError, match="NaN or infinite"):
        pydl.load(tmp_path / "nan.npz")
