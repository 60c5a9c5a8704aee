"""CUDA activation kernels on the simulator equal their NumPy twins."""
import numpy as np
import pytest

from pydl import reference

SIZES = [1, 7, 255, 256, 257, 1000, 2 * 8 * 256 + 3]  # around the block size and past the simulator's grid cap


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
def test_relu_forward_and_backward_equal_the_twin(sim, rng, dtype, n):
    x = rng.standard_normal(n).astype(dtype)
    dy = rng.standard_normal(n).astype(dtype)
    y = sim.relu(sim.from_numpy(x))
    np.testing.assert_array_equal(y.to_numpy(), reference.relu(x))
    dx = sim.relu_backward(y, sim.from_numpy(dy))
    np.testing.assert_array_equal(dx.to_numpy(), reference.relu_backward(reference.relu(x), dy))


def test_relu_writes_into_out_and_returns_it(sim_forward, rng):
    x = sim_forward.from_numpy(rng.standard_normal((3, 5)))
    out = sim_forward.empty((3, 5), np.float64)
    assert sim_forward.relu(x, out=out) is out
    sim_forward.relu(x, out=x)  # in place is allowed
    assert (x.to_numpy() >= 0).all()


def test_relu_refuses_host_arrays_wrong_dtypes_shapes_and_nan(sim_forward):
    s = sim_forward
    with pytest.raises(TypeError, match="relu: x must be a cuda-sim DeviceArray"):
        s.relu(np.ones(3))
    with pytest.raises(TypeError, match="out must have dtype float64"):
        s.relu(s.from_numpy(np.ones(3)), out=s.empty((3,), np.float32))
    with pytest.raises(ValueError, match=r"out must have shape \(3,\)"):
        s.relu(s.from_numpy(np.ones(3)), out=s.empty((4,), np.float64))
    with pytest.raises(ValueError, match="contains NaN"):
        s.relu(s.from_numpy(np.array([1.0, np.nan])))
    with pytest.raises(ValueError, match="is empty"):
        s.relu(s.from_numpy(np.ones(0)))
    y = s.from_numpy(np.ones(4))
    with pytest.raises(ValueError, match="shares memory with dy"):
        s.relu_backward(s.from_numpy(np.ones(3)), s.rows(y, 0, 3), out=s.rows(y, 1, 4))
