"""max_pool2d / avg_pool2d forward and backward: C++ against the NumPy reference, gradients and PyTorch."""
import numpy as np
import pytest

import pydl
from pydl import kernels as K
from pydl import reference as R

from conftest import DTYPES
from kernel_configs import pool_configs, pool_id
from numgrad import numerical_grad, rel_err

BACKENDS = [pytest.param(K, id="cpp"), pytest.param(R, id="numpy")]


CONFIGS = pool_configs(40)


def _input(cfg):
    return np.random.default_rng(cfg["seed"]).standard_normal(cfg["shape"]).astype(cfg["dtype"])


def _close(actual, expected):
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    tol = 1e-6 if actual.dtype == np.float32 else 1e-14
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("cfg", CONFIGS, ids=pool_id)
def test_matches_reference(cfg):
    x = _input(cfg)
    args = (cfg["kernel"], cfg["stride"], cfg["padding"])
    y, argmax = K.max_pool2d_forward(x, *args)
    y_ref, argmax_ref = R.max_pool2d_forward(x, *args)
    _close(y, y_ref)
    assert argmax.dtype == np.int64
    np.testing.assert_array_equal(argmax, argmax_ref)
    dy = np.random.default_rng(cfg["seed"] + 1).standard_normal(y.shape).astype(x.dtype)
    _close(K.max_pool2d_backward(dy, argmax, x.shape), R.max_pool2d_backward(dy, argmax, x.shape))

    y = K.avg_pool2d_forward(x, *args)
    _close(y, R.avg_pool2d_forward(x, *args))
    _close(K.avg_pool2d_backward(dy, x.shape, *args), R.avg_pool2d_backward(dy, x.shape, *args))


@pytest.mark.parametrize("mod", BACKENDS)
def test_max_ties_go_to_the_first_and_overlaps_accumulate(mod):
    x = np.zeros((1, 1, 3, 4))
    y, argmax = mod.max_pool2d_forward(x, 2, stride=1)
    np.testing.assert_array_equal(argmax[0, 0], [[0, 1, 2], [4, 5, 6]])
    dx = mod.max_pool2d_backward(np.ones_like(y), argmax, x.shape)
    np.testing.assert_array_equal(dx[0, 0], [[1, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize("mod", BACKENDS)
def test_max_padding_is_minus_infinity(mod):
    x = np.full((1, 1, 2, 2), -np.inf)
    x[0, 0, 1, 1] = -5.0
    y, argmax = mod.max_pool2d_forward(x, 3, stride=1, padding=1)
    np.testing.assert_array_equal(y[0, 0], [[-5, -5], [-5, -5]])
    np.testing.assert_array_equal(argmax[0, 0], [[3, 3], [3, 3]])
    y, argmax = mod.max_pool2d_forward(np.full((1, 1, 2, 2), -np.inf), 2, stride=1, padding=1)
    np.testing.assert_array_equal(argmax[0, 0], [[0, 0, 1], [0, 0, 1], [2, 2, 3]])  # first input element


def test_many_planes_and_thread_counts():
    x = np.random.default_rng(2).standard_normal((8, 16, 20, 20))
    want = [R.max_pool2d_forward(x, 3, 1, 1)[0], R.avg_pool2d_forward(x, 3, 1, 1)]
    threads = pydl.get_num_threads()
    try:
        for t in sorted({1, threads}):
            pydl.set_num_threads(t)
            _close(K.max_pool2d_forward(x, 3, 1, 1)[0], want[0])
            _close(K.avg_pool2d_forward(x, 3, 1, 1), want[1])
    finally:
        pydl.set_num_threads(threads)


# The 2x2 / stride 2 path: rows shorter than, equal to and longer than a vector (8 float32, 4 float64 lanes),
# odd H and W (the last row and column belong to no window), one output, and enough planes for 2 threads.
SHAPES_2X2 = [(2, 3, 28, 28), (2, 3, 7, 9), (1, 2, 2, 2), (1, 2, 3, 3), (2, 1, 16, 17), (1, 2, 5, 41),
              (9, 16, 28, 28)]


def _tied(shape, dtype, seed):
    """Few distinct values (every window has ties) with +-inf among them."""
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([-np.inf, -1.0, 0.0, 2.0, np.inf]), size=shape, p=[0.1, 0.3, 0.3, 0.2, 0.1]).astype(dtype)


@pytest.mark.parametrize("shape", SHAPES_2X2, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("values", ["normal", "tied"])
def test_2x2_stride_2_is_exactly_the_reference(shape, dtype, values, simd_level, threads):
    x = (_tied(shape, dtype, 5) if values == "tied"
         else np.random.default_rng(5).standard_normal(shape).astype(dtype))
    y, argmax = K.max_pool2d_forward(x, 2)
    y_ref, argmax_ref = R.max_pool2d_forward(x, 2)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)
    dy = np.random.default_rng(6).standard_normal(y.shape).astype(dtype)
    np.testing.assert_array_equal(K.max_pool2d_backward(dy, argmax, x.shape),
                                  R.max_pool2d_backward(dy, argmax, x.shape))
    out = np.full_like(x, 7.0)  # every element written, the uncovered last row and column included
    K.max_pool2d_backward(dy, argmax, x.shape, out=out)
    np.testing.assert_array_equal(out, R.max_pool2d_backward(dy, argmax, x.shape))


@pytest.mark.parametrize("dtype", DTYPES)
def test_2x2_backward_turns_negative_zero_into_zero_as_the_zero_fill_and_add_do(dtype, simd_level):
    x = np.random.default_rng(0).standard_normal((2, 2, 6, 20)).astype(dtype)
    y, argmax = K.max_pool2d_forward(x, 2)
    for mod in (K, R):
        dx = mod.max_pool2d_backward(np.full_like(y, -0.0), argmax, x.shape)
        assert not np.signbit(dx).any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_with_arg_maxes_outside_their_2x2_block_accumulates(dtype, simd_level, threads):
    """max_pool2d_backward never sees the window: any argmax in the plane is valid, repeats add up."""
    rng = np.random.default_rng(3)
    shape = (6, 16, 12, 16)
    y, argmax = K.max_pool2d_forward(rng.standard_normal(shape).astype(dtype), 2)
    argmax[0] = rng.integers(0, 12 * 16, size=argmax[0].shape)  # anywhere in the plane
    argmax[1, 3, 2, 5] = argmax[1, 3, 2, 4]  # one repeat in an otherwise block-wise plane
    argmax[2, 0, -1, -1] = 0  # the last output of a plane points at its first element
    dy = rng.standard_normal(y.shape).astype(dtype)
    np.testing.assert_array_equal(K.max_pool2d_backward(dy, argmax, shape), R.max_pool2d_backward(dy, argmax, shape))


@pytest.mark.parametrize("kernel,stride,padding", [(2, 1, 0), (2, (2, 1), 0), (2, 2, 1), ((2, 3), 2, 0), (3, 2, 0),
                                                   (2, 3, 0), (1, 2, 0)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_windows_near_2x2_stride_2_take_the_general_path_and_match(kernel, stride, padding, dtype, simd_level, threads):
    x = _tied((9, 16, 13, 14), dtype, 8)
    y, argmax = K.max_pool2d_forward(x, kernel, stride, padding)
    y_ref, argmax_ref = R.max_pool2d_forward(x, kernel, stride, padding)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)
    dy = np.random.default_rng(9).standard_normal(y.shape).astype(dtype)
    _close(K.max_pool2d_backward(dy, argmax, x.shape), R.max_pool2d_backward(dy, argmax, x.shape))


@pytest.mark.parametrize("mod", BACKENDS)
@pytest.mark.parametrize("kernel,stride", [(2, None), (3, 1)])
@pytest.mark.parametrize("given_out", [False, True], ids=["fresh", "out"])
def test_nan_and_bad_argmax_raise_and_leave_given_outputs_untouched(mod, kernel, stride, given_out):
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 9))
    x[1, 2, 6, 8] = np.nan  # in the last row and column, which no 2x2 window covers
    y, argmax = R.max_pool2d_forward(np.zeros_like(x), kernel, stride)
    outs = dict(out=np.full_like(y, 5.0), argmax=np.full_like(argmax, 5)) if given_out else {}
    with pytest.raises(ValueError, match=r"max_pool2d_forward: x with shape \(2, 3, 7, 9\) contains NaN"):
        mod.max_pool2d_forward(x, kernel, stride, **outs)
    for a in outs.values():
        assert (a == 5).all()

    y, argmax = mod.max_pool2d_forward(np.nan_to_num(x), kernel, stride)
    dx = dict(out=np.full_like(x, 5.0)) if given_out else {}
    dy = np.ones_like(y)
    dy[0, 1, 0, 0] = np.nan
    bad = argmax.copy()
    bad[1, 0, 0, 0] = -1
    with pytest.raises(ValueError, match=r"max_pool2d_backward: dy with shape .* contains NaN"):
        mod.max_pool2d_backward(dy, bad, x.shape, **dx)  # NaN is reported before the bad index
    with pytest.raises(ValueError, match=r"argmax holds -1, outside \[0, H\*W\) = \[0, 63\)"):
        mod.max_pool2d_backward(np.ones_like(y), bad, x.shape, **dx)
    for a in dx.values():
        assert (a == 5).all()


@pytest.mark.parametrize("kernel,stride,padding", [(2, None, 0), ((3, 2), 1, (1, 1)), (3, 2, 1), (1, 2, 0)])
def test_backward_matches_numerical_gradient(kernel, stride, padding):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 2, 7, 6))  # distinct values: the arg-max stays put under a 1e-6 nudge
    dy = rng.standard_normal(K.avg_pool2d_forward(x, kernel, stride, padding).shape)

    def max_loss():
        return float(np.sum(K.max_pool2d_forward(x, kernel, stride, padding)[0] * dy))

    def avg_loss():
        return float(np.sum(K.avg_pool2d_forward(x, kernel, stride, padding) * dy))

    argmax = K.max_pool2d_forward(x, kernel, stride, padding)[1]
    assert rel_err(K.max_pool2d_backward(dy, argmax, x.shape), numerical_grad(max_loss, x)) < 1e-6
    assert rel_err(K.avg_pool2d_backward(dy, x.shape, kernel, stride, padding), numerical_grad(avg_loss, x)) < 1e-6


@pytest.mark.parametrize("mod", BACKENDS)
class TestBadInput:
    x = np.zeros((2, 3, 5, 5), np.float32)

    def test_wrong_dtypes(self, mod):
        with pytest.raises(TypeError, match="x must have dtype float32 or float64, got int32"):
            mod.max_pool2d_forward(self.x.astype(np.int32), 2)
        with pytest.raises(TypeError, match="x must have dtype float32 or float64"):
            mod.avg_pool2d_forward(self.x.astype(np.float16), 2)
        y, argmax = mod.max_pool2d_forward(self.x, 2)
        with pytest.raises(TypeError, match="argmax must have an integer dtype"):
            mod.max_pool2d_backward(y, argmax.astype(np.float64), self.x.shape)
        with pytest.raises(TypeError, match="kernel_size must be an int or a pair"):
            mod.avg_pool2d_forward(self.x, (2, 2, 2))

    def test_geometry(self, mod):
        with pytest.raises(ValueError, match=r"padding \(2, 2\) must be at most half the kernel size \(3, 3\)"):
            mod.max_pool2d_forward(self.x, 3, padding=2)
        with pytest.raises(ValueError, match=r"stride must be >= 1, got \(0, 1\)"):
            mod.avg_pool2d_forward(self.x, 2, stride=(0, 1))
        with pytest.raises(ValueError, match=r"padding must be >= 0, got \(-1, -1\)"):
            mod.avg_pool2d_forward(self.x, 2, padding=-1)
        with pytest.raises(ValueError, match=r"kernel_size must be >= 1, got \(0, 2\)"):
            mod.max_pool2d_forward(self.x, (0, 2))
        with pytest.raises(ValueError, match=r"output size would be \(0, 2\) for input \(H, W\) = \(5, 5\)"):
            mod.max_pool2d_forward(self.x, (6, 2))
        with pytest.raises(ValueError, match="output size would be"):
            mod.avg_pool2d_backward(np.zeros((2, 3, 1, 1), np.float32), (2, 3, 5, 5), 7)

    def test_not_4d_and_nan(self, mod):
        with pytest.raises(ValueError, match=r"x must be 4-D, got shape \(3, 5, 5\)"):
            mod.max_pool2d_forward(self.x[0], 2)
        bad = self.x.copy()
        bad[0, 0, 0, 0] = np.nan
        with pytest.raises(ValueError, match="x with shape .* contains NaN"):
            mod.avg_pool2d_forward(bad, 2)
        with pytest.raises(ValueError, match="dy with shape .* contains NaN"):
            mod.avg_pool2d_backward(bad[:, :, :2, :2].copy(), (2, 3, 5, 5), 2)

    def test_backward_shapes(self, mod):
        y, argmax = mod.max_pool2d_forward(self.x, 2)
        with pytest.raises(ValueError, match=r"argmax holds 25, outside \[0, H\*W\) = \[0, 25\)"):
            mod.max_pool2d_backward(y, np.full_like(argmax, 25), self.x.shape)
        with pytest.raises(ValueError, match="argmax must have shape"):
            mod.max_pool2d_backward(y, argmax[:, :, :1], self.x.shape)
        with pytest.raises(ValueError, match="x_shape .* must share N and C with dy"):
            mod.max_pool2d_backward(y, argmax, (2, 4, 5, 5))
        with pytest.raises(TypeError, match="x_shape must be a sequence of 4 ints"):
            mod.max_pool2d_backward(y, argmax, (2, 3, 5))
        with pytest.raises(ValueError, match=r"dy must have shape \(2, 3, 2, 2\), got \(2, 3, 3, 3\)"):
            mod.avg_pool2d_backward(np.zeros((2, 3, 3, 3), np.float32), self.x.shape, 2)


@pytest.mark.parametrize("cfg", CONFIGS[:16], ids=pool_id)
def test_matches_torch(cfg):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = _input(cfg)
    args = (cfg["kernel"], cfg["stride"], cfg["padding"])
    tx = torch.from_numpy(x).requires_grad_()
    ty, tidx = F.max_pool2d(tx, *args, return_indices=True)
    y, argmax = K.max_pool2d_forward(x, *args)
    _close(y, ty.detach().numpy())
    np.testing.assert_array_equal(argmax, tidx.numpy())
    dy = np.random.default_rng(cfg["seed"] + 1).standard_normal(y.shape).astype(x.dtype)
    ty.backward(torch.from_numpy(dy))
    _close(K.max_pool2d_backward(dy, argmax, x.shape), tx.grad.numpy())

    tx.grad = None
    ty = F.avg_pool2d(tx, *args)  # count_include_pad=True, ceil_mode=False: PyTorch's defaults
    _close(K.avg_pool2d_forward(x, *args), ty.detach().numpy())
    ty.backward(torch.from_numpy(dy))
    _close(K.avg_pool2d_backward(dy, x.shape, *args), tx.grad.numpy())
