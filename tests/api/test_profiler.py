"""pydl.profile() times kernels and layers inside its block and leaves nothing behind outside it."""
import numpy as np
import pytest

import pydl
from pydl import backend, nn, optim


def _net(backend_name="cpp"):
    return pydl.Network([nn.Dense(2, 3), nn.Sigmoid(), nn.Dense(3, 1), nn.Sigmoid()], loss="bce",
                        optimizer=optim.SGD(lr=1.0), seed=0, backend=backend_name)


def _data():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (64, 2)).astype(np.float32)
    return x, (x[:, 0] ** 2 > x[:, 1]).astype(np.float32)


@pytest.mark.parametrize("backend_name", ["cpp", "numpy"])
def test_profile_records_kernels_and_layer_phases(backend_name):
    net, (x, y) = _net(backend_name), _data()
    with pydl.profile() as prof:
        for _ in range(3):
            net.train_step(x, y)
    stats = {name: s.calls for (kind, name), s in prof.stats.items()}
    assert stats["sigmoid"] == 6 and stats["sigmoid_backward"] == 6
    assert stats["Dense.forward"] == 6 and stats["Dense.backward"] == 6
    assert stats["Sigmoid.forward"] == 6
    assert prof.wall > 0


def test_profile_table_lists_layers_then_kernels_sorted_by_time():
    net, (x, y) = _net(), _data()
    with pydl.profile() as prof:
        net.train_step(x, y)
    table = prof.table()
    assert table.startswith("Profile:") and "| layer | Dense.forward |" in table and "| kernel | sigmoid |" in table
    kinds = [row[0] for row in prof.rows()]
    assert kinds == sorted(kinds, key=lambda k: k != "layer")


def test_nothing_stays_wrapped_after_the_block():
    forward = nn.Dense.forward
    with pydl.profile():
        assert nn.Dense.forward is not forward
    assert nn.Dense.forward is forward
    assert backend.kernel_wrapper is None
    assert backend.resolve("cpp") is pydl.kernels


def test_saving_inside_a_profile_still_records_the_backend_name(tmp_path):
    net = _net("numpy")
    with pydl.profile():
        net.save(tmp_path / "net.npz")
    assert pydl.load(tmp_path / "net.npz").backend == "numpy"


def test_profiles_do_not_nest():
    with pydl.profile():
        with pytest.raises(RuntimeError, match="already running"):
            pydl.profile().__enter__()
