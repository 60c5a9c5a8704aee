"""CUDA activation kernels on the simulator equal their NumPy twins."""
import numpy as np
import pytest

from pydl import reference

# Around the block size, past the simulator's grid cap (8 blocks of 256), and past 4 rounds of it, where
# the element-wise kernels' unrolled loop takes over from their tail loop.
SIZES = [1, 7, 255, 256, 257, 1000, 2 * 8 * 256 + 3, 9 * 8 * 256 + 5]
DTYPES = [np.float32, np.float64]
# The reference's exp/tanh against the device's: a few ulp apart.
RTOL = {np.float32: 4e-6, np.float64: 1e-14}
SHAPES = [(1,), (7,), (257,), (13, 17), (3, 5, 7), (2 * 8 * 256 + 3,), (9 * 8 * 256 + 5,)]


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


def _pair(rng, shape, dtype, scale=4.0):
    return (rng.standard_normal(shape) * scale).astype(dtype), rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "leaky_relu"])
def test_elementwise_forward_and_backward_match_the_twin(sim, rng, name, shape, dtype):
    x, dy = _pair(rng, shape, dtype)
    y = getattr(sim, name)(sim.from_numpy(x))
    assert y.shape == shape and y.dtype == dtype
    expected = getattr(reference, name)(x)
    np.testing.assert_allclose(y.to_numpy(), expected, rtol=RTOL[dtype], atol=1e-300)
    dx = getattr(sim, name + "_backward")(sim.from_numpy(expected), sim.from_numpy(dy))
    np.testing.assert_allclose(dx.to_numpy(), getattr(reference, name + "_backward")(expected, dy),
                               rtol=RTOL[dtype], atol=1e-300)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "leaky_relu"])
def test_elementwise_kernels_on_views_off_16_byte_alignment_equal_the_twin(sim, rng, name, dtype):
    # Rows 1.. of a (n, 3) array start 3 elements in: the kernels' 16-byte packs cannot be used there.
    x, dy = _pair(rng, (4000, 3), dtype)
    xs, ys = sim.from_numpy(x), sim.from_numpy(dy)
    y = getattr(sim, name)(sim.rows(xs, 1, 4000))
    expected = getattr(reference, name)(x[1:])
    np.testing.assert_allclose(y.to_numpy(), expected, rtol=RTOL[dtype], atol=1e-300)
    out = sim.rows(sim.empty((4000, 3), dtype), 1, 4000)
    getattr(sim, name + "_backward")(sim.from_numpy(expected), sim.rows(ys, 1, 4000), out=out)
    np.testing.assert_allclose(out.to_numpy(), getattr(reference, name + "_backward")(expected, dy[1:]),
                               rtol=RTOL[dtype], atol=1e-300)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_is_finite_at_extremes_and_clips_as_the_twin(sim_forward, dtype):
    x = np.array([-1e4, -50.0, -1.0, 0.0, 1.0, 50.0, 1e4], dtype=dtype)
    y = sim_forward.sigmoid(sim_forward.from_numpy(x)).to_numpy()
    assert y[0] == 0 and y[-1] == 1 and np.isfinite(y).all()
    clipped = sim_forward.sigmoid(sim_forward.from_numpy(x), clip=0.01).to_numpy()
    np.testing.assert_array_equal(clipped[[0, 1, -2, -1]], reference.sigmoid(x, clip=0.01)[[0, 1, -2, -1]])
    assert clipped.min() == dtype(0.01) and clipped.max() == dtype(1 - 0.01)


@pytest.mark.parametrize("dtype", DTYPES)
def test_leaky_relu_takes_its_slope_on_both_passes(sim_forward, rng, dtype):
    s = sim_forward
    x, dy = _pair(rng, (33, 9), dtype)
    y = s.leaky_relu(s.from_numpy(x), negative_slope=0.2)
    np.testing.assert_array_equal(y.to_numpy(), reference.leaky_relu(x, negative_slope=0.2))
    dx = s.leaky_relu_backward(y, s.from_numpy(dy), negative_slope=0.2)
    np.testing.assert_array_equal(dx.to_numpy(), reference.leaky_relu_backward(y.to_numpy(), dy, negative_slope=0.2))


# Rows around the 8 rows of a block, columns around the 32 lanes of a row's warp.
SOFTMAX_SHAPES = [(1, 1), (1, 10), (7, 3), (9, 32), (17, 33), (3, 100), (8, 257)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SOFTMAX_SHAPES, ids=str)
def test_softmax_forward_and_backward_match_the_twin(sim, rng, shape, dtype):
    x, dy = _pair(rng, shape, dtype, scale=10.0)
    y = sim.softmax(sim.from_numpy(x)).to_numpy()
    np.testing.assert_allclose(y, reference.softmax(x), rtol=RTOL[dtype] * 10, atol=1e-300)
    np.testing.assert_allclose(y.sum(axis=1), 1, rtol=RTOL[dtype] * 10)
    dx = sim.softmax_backward(sim.from_numpy(y), sim.from_numpy(dy)).to_numpy()
    # A row dot product is subtracted: the error is absolute, of the order eps * |dy|.
    np.testing.assert_allclose(dx, reference.softmax_backward(y, dy), rtol=RTOL[dtype] * 10,
                               atol=20 * np.finfo(dtype).eps)


def test_softmax_has_the_same_bits_in_every_thread_order_and_in_place(sim_forward, rng):
    s = sim_forward
    x = rng.standard_normal((19, 75)) * 10
    dy = rng.standard_normal((19, 75))
    runs = []
    for order in ("forward", "reverse", "shuffle"):
        s.set_thread_order(order, 7)
        y = s.softmax(s.from_numpy(x))
        runs.append((y.to_numpy(), s.softmax_backward(y, s.from_numpy(dy)).to_numpy()))
    s.set_thread_order("forward", 0)
    for y, dx in runs[1:]:
        np.testing.assert_array_equal(y, runs[0][0])
        np.testing.assert_array_equal(dx, runs[0][1])
    d = s.from_numpy(x)
    assert s.softmax(d, out=d) is d
    np.testing.assert_array_equal(d.to_numpy(), runs[0][0])
    np.testing.assert_array_equal(s.softmax(s.from_numpy(np.array([[1e4, 0.0, -1e4]]))).to_numpy(), [[1, 0, 0]])


def test_activations_refuse_bad_arguments_as_the_twin(sim_forward):
    s = sim_forward
    ones = s.from_numpy(np.ones((2, 3)))
    with pytest.raises(TypeError, match="sigmoid: x must be a cuda-sim DeviceArray"):
        s.sigmoid(np.ones(3))
    with pytest.raises(TypeError, match="tanh_backward: dy must be a cuda-sim DeviceArray"):
        s.tanh_backward(ones, np.ones((2, 3)))
    with pytest.raises(TypeError, match="all arrays must share one dtype"):
        s.sigmoid_backward(ones, s.from_numpy(np.ones((2, 3), np.float32)))
    with pytest.raises(ValueError, match=r"dy must have shape \(2, 3\)"):
        s.leaky_relu_backward(ones, s.from_numpy(np.ones(6)))
    with pytest.raises(ValueError, match=r"sigmoid: clip must lie in \(0, 0.5\), got 0.5"):
        s.sigmoid(ones, clip=0.5)
    with pytest.raises(TypeError, match="sigmoid: clip must be a number"):
        s.sigmoid(ones, clip="0.1")
    with pytest.raises(ValueError, match="leaky_relu: negative_slope must be >= 0, got -0.1"):
        s.leaky_relu(ones, negative_slope=-0.1)
    with pytest.raises(ValueError, match=r"negative_slope=1e\+39 overflows float32"):
        s.leaky_relu(s.from_numpy(np.ones(2, np.float32)), negative_slope=1e39)
    with pytest.raises(ValueError, match="softmax: x must be 2-D"):
        s.softmax(s.from_numpy(np.ones(3)))
    with pytest.raises(ValueError, match="softmax_backward: y must be 2-D"):
        s.softmax_backward(s.from_numpy(np.ones(3)), s.from_numpy(np.ones(3)))
    with pytest.raises(ValueError, match="softmax: x with shape .* contains inf"):
        s.softmax(s.from_numpy(np.array([[1.0, np.inf]])))
    with pytest.raises(ValueError, match="tanh_backward: dy with shape .* contains NaN"):
        s.tanh_backward(ones, s.from_numpy(np.array([[1.0, np.nan, 0.0]] * 2)))
    out = s.from_numpy(np.full((2, 3), 5.0))
    with pytest.raises(ValueError, match="x with shape .* contains NaN"):
        s.sigmoid(s.from_numpy(np.full((2, 3), np.nan)), out=out)
    assert (out.to_numpy() == 5).all()  # refused before any write
