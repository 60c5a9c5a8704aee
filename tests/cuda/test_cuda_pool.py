"""Max and average pooling on the simulator against the NumPy twins, on the configurations of
tests/kernels/test_pool.py: the same maxima, the same argmax (first maximum on ties), and backwards that
gather in the twin's order of additions."""
import numpy as np
import pytest

from pydl import reference as R

from cuda_twin import close, raises_like_the_twin
from kernel_configs import pool_configs, pool_id


CONFIGS = pool_configs(40)


def _tied(shape, dtype, seed):
    """Few distinct values (every window has ties) with +-inf among them."""
    rng = np.random.default_rng(seed)
    values = np.array([-np.inf, -1.0, 0.0, 2.0, np.inf])
    return rng.choice(values, size=shape, p=[0.1, 0.3, 0.3, 0.2, 0.1]).astype(dtype)


def _pool_tol(got, want):
    close(got, want, f32=1e-6, f64=1e-14)


@pytest.mark.parametrize("values", ["normal", "tied"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=pool_id)
def test_forward_and_backward_equal_the_twin(sim, cfg, values):
    s, d = sim, sim.from_numpy
    x = (_tied(cfg["shape"], cfg["dtype"], cfg["seed"]) if values == "tied"
         else np.random.default_rng(cfg["seed"]).standard_normal(cfg["shape"]).astype(cfg["dtype"]))
    args = cfg["kernel"], cfg["stride"], cfg["padding"]
    y, argmax = s.max_pool2d_forward(d(x), *args)
    y_want, argmax_want = R.max_pool2d_forward(x, *args)
    np.testing.assert_array_equal(y.to_numpy(), y_want)
    np.testing.assert_array_equal(argmax.to_numpy(), argmax_want)
    dy = np.random.default_rng(cfg["seed"] + 1).standard_normal(y_want.shape).astype(x.dtype)
    np.testing.assert_array_equal(s.max_pool2d_backward(d(dy), argmax, x.shape).to_numpy(),
                                  R.max_pool2d_backward(dy, argmax_want, x.shape))
    if values == "normal":  # inf - inf in a window sum is NaN in both, which assert_allclose takes as equal anyway
        _pool_tol(s.avg_pool2d_forward(d(x), *args), R.avg_pool2d_forward(x, *args))
    _pool_tol(s.avg_pool2d_backward(d(dy), x.shape, *args), R.avg_pool2d_backward(dy, x.shape, *args))


def test_max_ties_go_to_the_first_and_overlaps_accumulate(sim):
    x = np.zeros((1, 1, 3, 4))
    y, argmax = sim.max_pool2d_forward(sim.from_numpy(x), 2, stride=1)
    np.testing.assert_array_equal(argmax.to_numpy()[0, 0], [[0, 1, 2], [4, 5, 6]])
    dx = sim.max_pool2d_backward(sim.from_numpy(np.ones((1, 1, 2, 3))), argmax, x.shape)
    np.testing.assert_array_equal(dx.to_numpy()[0, 0], [[1, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]])


def test_max_padding_is_minus_infinity(sim_forward):
    s = sim_forward
    x = np.full((1, 1, 2, 2), -np.inf)
    x[0, 0, 1, 1] = -5.0
    y, argmax = s.max_pool2d_forward(s.from_numpy(x), 3, stride=1, padding=1)
    np.testing.assert_array_equal(y.to_numpy()[0, 0], [[-5, -5], [-5, -5]])
    np.testing.assert_array_equal(argmax.to_numpy()[0, 0], [[3, 3], [3, 3]])
    _, argmax = s.max_pool2d_forward(s.from_numpy(np.full((1, 1, 2, 2), -np.inf)), 2, stride=1, padding=1)
    np.testing.assert_array_equal(argmax.to_numpy()[0, 0], [[0, 0, 1], [0, 0, 1], [2, 2, 3]])  # first input element


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 28, 28), (2, 3, 7, 9), (1, 2, 2, 2), (2, 1, 16, 17)], ids=str)
def test_2x2_stride_2_writes_every_element_and_keeps_zero_positive(sim_forward, shape, dtype):
    s, d = sim_forward, sim_forward.from_numpy
    x = np.random.default_rng(5).standard_normal(shape).astype(dtype)
    y, argmax = s.max_pool2d_forward(d(x), 2)
    dy = np.random.default_rng(6).standard_normal(y.shape).astype(dtype)
    out = d(np.full_like(x, 7.0))  # the uncovered last row and column included
    s.max_pool2d_backward(d(dy), argmax, x.shape, out=out)
    np.testing.assert_array_equal(out.to_numpy(), R.max_pool2d_backward(dy, argmax.to_numpy(), x.shape))
    dx = s.max_pool2d_backward(d(np.full_like(dy, -0.0)), argmax, x.shape)
    assert not np.signbit(dx.to_numpy()).any()  # 0 + (-0) is +0, as in the twin's zero fill and add


def test_outputs_are_written_in_place_and_returned(sim_forward, rng):
    s, d = sim_forward, sim_forward.from_numpy
    x = d(rng.standard_normal((2, 3, 6, 6)))
    out, argmax = s.empty((2, 3, 3, 3), np.float64), s.empty((2, 3, 3, 3), np.int64)
    y, am = s.max_pool2d_forward(x, 2, out=out, argmax=argmax)
    assert y is out and am is argmax
    dx = s.empty((2, 3, 6, 6), np.float64)
    assert s.max_pool2d_backward(out, argmax, (2, 3, 6, 6), out=dx) is dx
    assert s.avg_pool2d_forward(x, 2, out=out) is out
    assert s.avg_pool2d_backward(out, (2, 3, 6, 6), 2, out=dx) is dx


def test_bad_input_raises_as_the_twin(sim_forward):
    s, d = sim_forward, sim_forward.from_numpy
    x = np.ones((1, 2, 5, 5))
    with pytest.raises(TypeError, match="max_pool2d_forward: x must be a cuda-sim DeviceArray"):
        s.max_pool2d_forward(x, 2)
    with pytest.raises(TypeError, match="max_pool2d_backward: argmax must be a cuda-sim DeviceArray"):
        s.max_pool2d_backward(d(np.ones((1, 2, 2, 2))), np.zeros((1, 2, 2, 2), np.int64), (1, 2, 5, 5))
    with pytest.raises(TypeError, match="max_pool2d_backward: argmax must have an integer dtype, got float64"):
        s.max_pool2d_backward(d(np.ones((1, 2, 2, 2))), d(np.zeros((1, 2, 2, 2))), (1, 2, 5, 5))
    argmax = np.zeros((1, 2, 2, 2), np.int64)
    bad_argmax = argmax.copy()
    bad_argmax[0, 1, 1, 0] = 25
    cases = [
        (lambda m, a: m.max_pool2d_forward(a(x), 2, padding=2)),  # more than half the kernel
        (lambda m, a: m.max_pool2d_forward(a(x), 6)),
        (lambda m, a: m.max_pool2d_forward(a(x), 0)),
        (lambda m, a: m.max_pool2d_forward(a(x), 2, stride=(1, 0))),
        (lambda m, a: m.max_pool2d_forward(a(x), (2, 2, 2))),
        (lambda m, a: m.max_pool2d_forward(a(np.ones((2, 5, 5))), 2)),
        (lambda m, a: m.max_pool2d_forward(a(np.full((1, 2, 5, 5), np.nan)), 2)),
        (lambda m, a: m.max_pool2d_forward(a(x), 2, out=a(np.ones((1, 2, 3, 3))))),
        (lambda m, a: m.max_pool2d_backward(a(np.ones((1, 2, 2, 2))), a(argmax), (1, 3, 5, 5))),
        (lambda m, a: m.max_pool2d_backward(a(np.ones((1, 2, 2, 2))), a(argmax), (1, 2, 0, 5))),
        (lambda m, a: m.max_pool2d_backward(a(np.ones((1, 2, 2, 2))), a(bad_argmax), (1, 2, 5, 5))),
        (lambda m, a: m.max_pool2d_backward(a(np.ones((1, 2, 2, 2))), a(argmax[..., :1]), (1, 2, 5, 5))),
        (lambda m, a: m.avg_pool2d_forward(a(x), 3, padding=(0, 2))),
        (lambda m, a: m.avg_pool2d_backward(a(np.ones((1, 2, 3, 3))), (1, 2, 5, 5), 2)),  # dy not the output's shape
        (lambda m, a: m.avg_pool2d_backward(a(np.ones((1, 2, 2, 2))), (1, 2, 5, 5), 2,
                                            out=a(np.ones((1, 2, 5, 5), np.float32)))),
    ]
    for case in cases:
        raises_like_the_twin(lambda: case(s, d), lambda: case(R, np.asarray))
    with pytest.raises(TypeError, match="max_pool2d_backward: x_shape must be a sequence of 4 ints"):
        s.max_pool2d_backward(d(np.ones((1, 2, 2, 2))), d(argmax), [1, 2, 5])  # the C++ message adds the length
