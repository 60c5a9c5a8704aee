"""CUDA dropout on the simulator: the CPU's counter-based masks bit for bit, and the twin's checks."""
import numpy as np
import pytest

from pydl import reference

DTYPES = [np.float32, np.float64]
# Odd and even counts around the block (256 pairs) and past the simulator's grid cap (8 blocks).
SHAPES = [(1,), (2,), (7,), (511,), (512,), (513,), (13, 17), (2 * 8 * 512 + 5,)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_forward_and_backward_equal_the_twin_bit_for_bit(sim, rng, shape, dtype):
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    out, mask = sim.dropout_forward(sim.from_numpy(x), 0.3, 12345)
    expected_out, expected_mask = reference.dropout_forward(x, 0.3, 12345)
    np.testing.assert_array_equal(mask.to_numpy(), expected_mask)
    np.testing.assert_array_equal(out.to_numpy(), expected_out)
    dx = sim.dropout_backward(sim.from_numpy(dy), mask)
    np.testing.assert_array_equal(dx.to_numpy(), reference.dropout_backward(dy, expected_mask))


@pytest.mark.parametrize("p", [0.0, 0.5, 0.999])
@pytest.mark.parametrize("seed", [0, 1, 2 ** 63 - 1])
def test_masks_follow_p_and_seed_exactly(sim_forward, p, seed):
    x = np.ones(1001)
    _, mask = sim_forward.dropout_forward(sim_forward.from_numpy(x), p, seed)
    np.testing.assert_array_equal(mask.to_numpy(), reference.dropout_forward(x, p, seed)[1])


def test_writes_in_place_into_given_arrays(sim_forward, rng):
    s = sim_forward
    x = rng.standard_normal((4, 9))
    d, mask = s.from_numpy(x), s.empty((4, 9), np.float64)
    out, m = s.dropout_forward(d, 0.25, 3, out=d, mask=mask)
    assert out is d and m is mask
    np.testing.assert_array_equal(d.to_numpy(), reference.dropout_forward(x, 0.25, 3)[0])
    dy = s.from_numpy(x)
    assert s.dropout_backward(dy, mask, out=dy) is dy


def test_refuses_bad_arguments_as_the_twin(sim_forward):
    s = sim_forward
    x = s.from_numpy(np.ones((2, 3)))
    with pytest.raises(TypeError, match="dropout_forward: x must be a cuda-sim DeviceArray"):
        s.dropout_forward(np.ones(3), 0.5, 1)
    with pytest.raises(ValueError, match=r"dropout_forward: p must lie in \[0, 1\), got 1.0"):
        s.dropout_forward(x, 1.0, 1)
    with pytest.raises(ValueError, match="dropout_forward: seed must be >= 0, got -1"):
        s.dropout_forward(x, 0.5, -1)
    with pytest.raises(TypeError, match="dropout_forward: seed must be an int"):
        s.dropout_forward(x, 0.5, 1.5)
    with pytest.raises(ValueError, match="mask shares memory with x"):
        s.dropout_forward(x, 0.5, 1, mask=x)
    with pytest.raises(TypeError, match="mask must have dtype float64, got float32"):
        s.dropout_forward(x, 0.5, 1, mask=s.empty((2, 3), np.float32))
    with pytest.raises(TypeError, match="dropout_backward: mask must be a cuda-sim DeviceArray"):
        s.dropout_backward(x, np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"dropout_backward: mask must have shape \(2, 3\)"):
        s.dropout_backward(x, s.from_numpy(np.ones(6)))
    with pytest.raises(ValueError, match="dropout_forward: x with shape .* contains NaN"):
        s.dropout_forward(s.from_numpy(np.array([np.nan])), 0.5, 1)
