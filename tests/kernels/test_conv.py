"""conv2d_forward / conv2d_backward: C++ against the NumPy reference, numerical gradients and PyTorch."""
import numpy as np
import pytest

import pydl
from pydl import kernels as K
from pydl import reference as R

from kernel_configs import conv_configs, conv_id
from numgrad import numerical_grad, rel_err

BACKENDS = [pytest.param(K, id="cpp"), pytest.param(R, id="numpy")]


VALID, INVALID = conv_configs(64)


def _arrays(cfg):
    rng = np.random.default_rng(cfg["seed"])
    dt = cfg["dtype"]
    x = rng.standard_normal((cfg["n"], cfg["c_in"], cfg["h"], cfg["w"])).astype(dt)
    w = rng.standard_normal((cfg["c_out"], cfg["c_in"], cfg["kh"], cfg["kw"])).astype(dt)
    b = rng.standard_normal(cfg["c_out"]).astype(dt)
    return x, w, b


def _close(actual, expected, dtype):
    scale = max(1.0, float(np.abs(expected).max()))
    tol = 2e-5 if dtype == np.float32 else 1e-12
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("cfg", VALID, ids=conv_id)
def test_matches_reference(cfg):
    x, w, b = _arrays(cfg)
    s, p, dt = cfg["stride"], cfg["padding"], cfg["dtype"]
    y = K.conv2d_forward(x, w, b, s, p)
    _close(y, R.conv2d_forward(x, w, b, s, p), dt)
    _close(K.conv2d_forward(x, w, None, s, p), R.conv2d_forward(x, w, None, s, p), dt)
    dy = np.random.default_rng(cfg["seed"] + 1).standard_normal(y.shape).astype(dt)
    for got, want in zip(K.conv2d_backward(x, w, dy, s, p), R.conv2d_backward(x, w, dy, s, p)):
        _close(got, want, dt)


@pytest.mark.parametrize("cfg", VALID[:24], ids=conv_id)
@pytest.mark.parametrize("mod", BACKENDS)
def test_fused_relu_is_the_convolution_clipped_at_zero(mod, cfg):
    x, w, b = _arrays(cfg)
    s, p = cfg["stride"], cfg["padding"]
    y = mod.conv2d_forward(x, w, b, s, p)
    np.testing.assert_array_equal(mod.conv2d_forward(x, w, b, s, p, activation="relu"), np.maximum(y, 0))
    np.testing.assert_array_equal(mod.conv2d_forward(x, w, b, s, p, activation="none"), y)


@pytest.mark.parametrize("shape,padding", [((64, 1, 28, 28, 16), 1), ((64, 16, 14, 14, 32), 1), ((3, 5, 9, 9, 7), 0)],
                         ids=["mnist conv1", "mnist conv2", "odd"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_relu_at_the_mnist_cnn_shapes(shape, padding, dtype, simd_level):
    n, c_in, h, w_, c_out = shape
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((n, c_in, h, w_)).astype(dtype), rng.standard_normal((c_out, c_in, 3, 3)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    y = K.conv2d_forward(x, w, b, 1, padding)
    np.testing.assert_array_equal(K.conv2d_forward(x, w, b, 1, padding, activation="relu"), np.maximum(y, 0))
    _close(K.conv2d_forward(x, w, b, 1, padding, activation="relu"),
           R.conv2d_forward(x, w, b, 1, padding, activation="relu"), dtype)


@pytest.mark.parametrize("mod", BACKENDS)
def test_fused_activation_is_none_or_relu(mod):
    x, w = np.ones((1, 1, 3, 3)), np.ones((2, 1, 2, 2))
    with pytest.raises(ValueError, match="conv2d_forward: activation must be 'none' or 'relu', got 'tanh'"):
        mod.conv2d_forward(x, w, activation="tanh")
    with pytest.raises(TypeError, match="conv2d_forward: activation must be a str"):
        mod.conv2d_forward(x, w, activation=None)


@pytest.mark.parametrize("h,stride", [(2, 2), (2, 3), (3, 3), (3, 4), (4, 4), (4, (4, 1)), (3, (1, 3))])
def test_one_by_one_kernel_whose_stride_skips_pixels(h, stride):
    # A single output row or column makes the stride irrelevant there; a 1x1 kernel must still read
    # only the pixels it strides to (the pointwise shortcut once read the batch as if no pixel were skipped).
    rng = np.random.default_rng(h)
    x, w, b = rng.standard_normal((3, 2, h, h)), rng.standard_normal((4, 2, 1, 1)), rng.standard_normal(4)
    y = K.conv2d_forward(x, w, b, stride, 0)
    _close(y, R.conv2d_forward(x, w, b, stride, 0), np.float64)
    dy = rng.standard_normal(y.shape)
    for got, want in zip(K.conv2d_backward(x, w, dy, stride, 0), R.conv2d_backward(x, w, dy, stride, 0)):
        _close(got, want, np.float64)


def test_enough_random_configs():
    assert len(VALID) >= 50 and {c["dtype"] for c in VALID} == {np.float32, np.float64}
    assert {c["stride"][0] for c in VALID} == {1, 2, 3} and {c["padding"][0] for c in VALID} == {0, 1, 2}
    assert any(c["kh"] != c["kw"] for c in VALID) and len(INVALID) > 0


@pytest.mark.parametrize("cfg", INVALID[:10], ids=conv_id)
@pytest.mark.parametrize("mod", BACKENDS)
def test_output_below_one_raises(mod, cfg):
    x, w, b = _arrays(cfg)
    with pytest.raises(ValueError, match=r"output size would be .* input \(H, W\)"):
        mod.conv2d_forward(x, w, b, cfg["stride"], cfg["padding"])


def test_need_dx_and_has_bias_flags():
    x, w, _ = _arrays(VALID[0])
    dy = np.ones_like(K.conv2d_forward(x, w, None, VALID[0]["stride"], VALID[0]["padding"]))
    dx, dw, db = K.conv2d_backward(x, w, dy, VALID[0]["stride"], VALID[0]["padding"], need_dx=False, has_bias=False)
    assert dx is None and db is None
    _close(dw, R.conv2d_backward(x, w, dy, VALID[0]["stride"], VALID[0]["padding"])[1], x.dtype)


@pytest.mark.parametrize("shape,stride,padding", [
    ((4, 8, 16, 16, 16, 3, 3), 1, 1),     # enough work for two threads over the batch
    ((4, 6, 12, 12, 16, 1, 1), 1, 0),     # 1x1, stride 1, no padding: no im2col
    ((1, 32, 64, 64, 2, 3, 3), 1, 1),     # im2col in several row bands (float64 rows exceed the band size)
    ((7, 8, 12, 12, 16, 3, 3), 1, 1),     # one GEMM per block of 4 samples; the last block has 3
    ((5, 3, 12, 24, 8, 3, 3), (1, 2), 1), # blocks of 4 samples and a last one of a single sample
])
def test_larger_shapes_and_thread_counts(shape, stride, padding):
    n, c_in, h, w, c_out, kh, kw = shape
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, c_in, h, w))
    wt = rng.standard_normal((c_out, c_in, kh, kw))
    b = rng.standard_normal(c_out)
    dy = rng.standard_normal(R.conv2d_forward(x, wt, b, stride, padding).shape)
    want = [R.conv2d_forward(x, wt, b, stride, padding), *R.conv2d_backward(x, wt, dy, stride, padding)]
    threads = pydl.get_num_threads()
    try:
        for t in sorted({1, threads}):
            pydl.set_num_threads(t)
            got = [K.conv2d_forward(x, wt, b, stride, padding), *K.conv2d_backward(x, wt, dy, stride, padding)]
            for g, e in zip(got, want):
                _close(g, e, np.float64)
    finally:
        pydl.set_num_threads(threads)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,stride,padding", [
    ((3, 2, 9, 37, 5, 3, 3), 1, 1),        # 37-pixel rows: wider than a panel, and rows straddling panels
    ((6, 3, 7, 11, 4, 3, 2), (1, 2), (1, 0)),  # 5-pixel rows, blocks of samples sharing panels
    ((1, 64, 40, 40, 3, 3, 3), 1, 1),      # bands of output rows, each starting a new panel; k blocks of 577
    ((2, 2, 6, 7, 300, 3, 3), 1, 1),       # 300 output channels: more rows of W than one cache block
])
def test_forward_at_every_simd_level(shape, stride, padding, dtype, simd_level):
    """im2col writes the GEMM's packed B itself, in panels whose width depends on the SIMD level and dtype."""
    n, c_in, h, w, c_out, kh, kw = shape
    rng = np.random.default_rng(13)
    x = rng.standard_normal((n, c_in, h, w)).astype(dtype)
    wt = rng.standard_normal((c_out, c_in, kh, kw)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    _close(K.conv2d_forward(x, wt, b, stride, padding), R.conv2d_forward(x, wt, b, stride, padding), dtype)
    _close(K.conv2d_forward(x, wt, None, stride, padding), R.conv2d_forward(x, wt, None, stride, padding), dtype)


@pytest.mark.parametrize("shape,stride,padding", [
    ((2, 3, 6, 5, 4, 3, 3), 1, 1),
    ((1, 2, 7, 8, 3, 2, 3), (2, 3), (1, 2)),
    ((2, 1, 5, 5, 2, 1, 1), 1, 0),
    ((1, 2, 4, 4, 2, 4, 4), 1, 0),        # kernel as large as the input
    ((2, 2, 7, 7, 3, 2, 2), 3, 0),        # stride larger than the kernel
])
def test_backward_matches_numerical_gradient(shape, stride, padding):
    n, c_in, h, w, c_out, kh, kw = shape
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, c_in, h, w))
    wt = rng.standard_normal((c_out, c_in, kh, kw))
    b = rng.standard_normal(c_out)
    dy = rng.standard_normal(K.conv2d_forward(x, wt, b, stride, padding).shape)

    def loss():
        return float(np.sum(K.conv2d_forward(x, wt, b, stride, padding) * dy))

    dx, dw, db = K.conv2d_backward(x, wt, dy, stride, padding)
    assert rel_err(dx, numerical_grad(loss, x)) < 1e-6
    assert rel_err(dw, numerical_grad(loss, wt)) < 1e-6
    assert rel_err(db, numerical_grad(loss, b)) < 1e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c_out", [1, 3])
@pytest.mark.parametrize("n", [1, 5])
def test_seed_report_shapes_equal_a_dense_layer(n, c_out, dtype):
    """Samples of 2 features as (N, 1, 1, 2), a 1x2 kernel covering them: a dense layer 2 -> c_out."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((n, 1, 1, 2)).astype(dtype)
    w = rng.standard_normal((c_out, 1, 1, 2)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    W = w[:, 0, 0, :].T  # (in, out)
    y = K.conv2d_forward(x, w, b)
    assert y.shape == (n, c_out, 1, 1)
    _close(y.reshape(n, c_out), x.reshape(n, 2) @ W + b, dtype)
    dy = rng.standard_normal((n, c_out, 1, 1)).astype(dtype)
    dx, dw, db = K.conv2d_backward(x, w, dy)
    dy2 = dy.reshape(n, c_out)
    _close(dx.reshape(n, 2), dy2 @ W.T, dtype)
    _close(dw[:, 0, 0, :].T, x.reshape(n, 2).T @ dy2, dtype)
    _close(db, dy2.sum(axis=0), dtype)


def test_out_argument_and_pair_forms():
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 3, 6, 7)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    out = np.full((2, 4, 6, 7), np.nan)
    got = K.conv2d_forward(x, w, b, stride=[1, np.int64(1)], padding=(np.int32(1), 1), out=out)
    assert got is out
    _close(out, R.conv2d_forward(x, w, b, 1, 1), np.float64)
    with pytest.raises(ValueError, match="out must have shape"):
        K.conv2d_forward(x, w, b, 1, 1, out=out[:, :, :-1].copy())
    with pytest.raises(TypeError, match="out must have dtype float64"):
        K.conv2d_forward(x, w, b, 1, 1, out=out.astype(np.float32))


@pytest.mark.parametrize("mod", BACKENDS)
class TestBadInput:
    x = np.zeros((2, 3, 5, 5), np.float32)
    w = np.zeros((4, 3, 3, 3), np.float32)

    def test_wrong_dtypes(self, mod):
        with pytest.raises(TypeError, match="x must have dtype float32 or float64, got int64"):
            mod.conv2d_forward(self.x.astype(np.int64), self.w)
        with pytest.raises(TypeError, match="w has dtype float64 but x has float32"):
            mod.conv2d_forward(self.x, self.w.astype(np.float64))
        with pytest.raises(TypeError, match="b has dtype float64"):
            mod.conv2d_forward(self.x, self.w, np.zeros(4))
        with pytest.raises(TypeError, match="dy has dtype float64"):
            mod.conv2d_backward(self.x, self.w, np.zeros((2, 4, 3, 3)))
        with pytest.raises(TypeError, match="x must be a numpy.ndarray"):
            mod.conv2d_forward(self.x.tolist(), self.w)

    def test_channel_mismatch_names_both_shapes(self, mod):
        w = np.zeros((4, 2, 3, 3), np.float32)
        msg = r"x has 3 input channels \(shape \(2, 3, 5, 5\).*w expects 2 \(shape \(4, 2, 3, 3\)"
        with pytest.raises(ValueError, match=msg):
            mod.conv2d_forward(self.x, w)
        with pytest.raises(ValueError, match=msg):
            mod.conv2d_backward(self.x, w, np.zeros((2, 4, 3, 3), np.float32))

    def test_output_below_one(self, mod):
        with pytest.raises(ValueError, match=r"output size would be \(0, 0\) for input \(H, W\) = \(5, 5\), "
                                             r"kernel \(6, 6\)"):
            mod.conv2d_forward(self.x, np.zeros((4, 3, 6, 6), np.float32))
        with pytest.raises(ValueError, match="output size would be"):
            mod.conv2d_forward(self.x[:, :, :1, :1].copy(), self.w, padding=(0, 1))

    def test_negative_padding_and_zero_stride(self, mod):
        with pytest.raises(ValueError, match=r"padding must be >= 0, got \(-1, 0\)"):
            mod.conv2d_forward(self.x, self.w, padding=(-1, 0))
        with pytest.raises(ValueError, match=r"stride must be >= 1, got \(0, 0\)"):
            mod.conv2d_forward(self.x, self.w, stride=0)
        with pytest.raises(ValueError, match=r"stride must be >= 1, got \(1, -2\)"):
            mod.conv2d_backward(self.x, self.w, np.zeros((2, 4, 3, 3), np.float32), stride=(1, -2))
        with pytest.raises(TypeError, match="stride must be an int or a pair of ints"):
            mod.conv2d_forward(self.x, self.w, stride=(1, 2, 3))
        with pytest.raises(TypeError, match="padding must be an int or a pair of ints"):
            mod.conv2d_forward(self.x, self.w, padding=1.5)

    def test_not_4d(self, mod):
        with pytest.raises(ValueError, match=r"x must be 4-D, got shape \(3, 5, 5\)"):
            mod.conv2d_forward(self.x[0], self.w)
        with pytest.raises(ValueError, match="w must be 4-D"):
            mod.conv2d_forward(self.x, self.w[0])
        with pytest.raises(ValueError, match="dy must be 4-D"):
            mod.conv2d_backward(self.x, self.w, np.zeros((2, 4, 9), np.float32))

    def test_bias_and_dy_shapes(self, mod):
        with pytest.raises(ValueError, match=r"b must have shape \(4,\), got \(3,\)"):
            mod.conv2d_forward(self.x, self.w, np.zeros(3, np.float32))
        with pytest.raises(ValueError, match=r"dy must have shape \(2, 4, 3, 3\), got \(2, 4, 5, 5\)"):
            mod.conv2d_backward(self.x, self.w, np.zeros((2, 4, 5, 5), np.float32))

    def test_nan(self, mod):
        bad = self.x.copy()
        bad[1, 2, 3, 4] = np.nan
        with pytest.raises(ValueError, match="x with shape .* contains NaN"):
            mod.conv2d_forward(bad, self.w)
        with pytest.raises(ValueError, match="w with shape .* contains NaN"):
            mod.conv2d_forward(self.x, np.full_like(self.w, np.nan))
        with pytest.raises(ValueError, match="dy with shape .* contains NaN"):
            mod.conv2d_backward(self.x, self.w, np.full((2, 4, 3, 3), np.nan, np.float32))


@pytest.mark.parametrize("cfg", VALID[:24], ids=conv_id)
def test_matches_torch(cfg):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, w, b = _arrays(cfg)
    s, p, dt = cfg["stride"], cfg["padding"], cfg["dtype"]
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    ty = F.conv2d(tx, tw, tb, stride=s, padding=p)
    y = K.conv2d_forward(x, w, b, s, p)
    _close(y, ty.detach().numpy(), dt)
    dy = np.random.default_rng(cfg["seed"] + 1).standard_normal(y.shape).astype(dt)
    ty.backward(torch.from_numpy(dy))
    for got, t in zip(K.conv2d_backward(x, w, dy, s, p), (tx, tw, tb)):
        _close(got, t.grad.numpy(), dt)


# Shapes that take the direct-convolution path (csrc/cpu/conv_direct*.{h,cpp}: AVX-512 only, chosen when a
# vector's lanes are at least 3/4 used by the output rows; 16 float32 or 8 float64 lanes, else 8 or 4).
# At the other SIMD levels the same shapes check the im2col path.
DIRECT_SHAPES = [
    ((3, 1, 28, 28, 16, 3, 3), 1, 1),          # shape 1 of bench_conv: rows of 28, a partial vector each
    ((2, 3, 31, 30, 5, 5, 5), 2, 2),           # stride 2 in phases, 5 channels (a partial channel tile)
    ((5, 64, 14, 14, 3, 3, 3), 1, 1),          # dW over blocks of several staged samples; two threads' chunks
    ((2, 2, 10, 14, 4, 3, 3), 1, 0),           # no padding and stride 1: staged all the same
    ((2, 3, 9, 40, 6, 3, 4), (2, 3), (1, 2)),  # unequal kernel, stride and padding
    ((3, 7, 16, 16, 19, 3, 3), 2, 1),          # rows of 8: 256-bit vectors for float32, 512-bit for float64
    ((3, 2, 8, 8, 5, 3, 3), 2, 1),             # rows of 4: 256-bit vectors for float64 (float32: im2col)
]


def _direct_case(shape, stride, padding, dtype):
    n, c_in, h, w, c_out, kh, kw = shape
    rng = np.random.default_rng(17)
    x = rng.standard_normal((n, c_in, h, w)).astype(dtype)
    wt = rng.standard_normal((c_out, c_in, kh, kw)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    dy = rng.standard_normal(R.conv2d_forward(x, wt, b, stride, padding).shape).astype(dtype)
    return x, wt, b, dy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,stride,padding", DIRECT_SHAPES)
def test_direct_forward_matches_reference(shape, stride, padding, dtype, simd_level, threads):
    x, wt, b, _ = _direct_case(shape, stride, padding, dtype)
    _close(K.conv2d_forward(x, wt, b, stride, padding), R.conv2d_forward(x, wt, b, stride, padding), dtype)
    _close(K.conv2d_forward(x, wt, None, stride, padding), R.conv2d_forward(x, wt, None, stride, padding), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,stride,padding", DIRECT_SHAPES)
def test_direct_backward_matches_reference(shape, stride, padding, dtype, simd_level, threads):
    x, wt, _, dy = _direct_case(shape, stride, padding, dtype)
    for got, want in zip(K.conv2d_backward(x, wt, dy, stride, padding), R.conv2d_backward(x, wt, dy, stride, padding)):
        _close(got, want, dtype)


@pytest.mark.parametrize("shape,stride,padding", DIRECT_SHAPES[:3])
def test_direct_backward_flags(shape, stride, padding, simd_level):
    """dW alone, and dW with dx but no db, equal the full backward's."""
    x, wt, _, dy = _direct_case(shape, stride, padding, np.float32)
    dx, dw, db = K.conv2d_backward(x, wt, dy, stride, padding)
    only_dw = K.conv2d_backward(x, wt, dy, stride, padding, need_dx=False, has_bias=False)
    assert only_dw[0] is None and only_dw[2] is None
    np.testing.assert_array_equal(only_dw[1], dw)
    no_db = K.conv2d_backward(x, wt, dy, stride, padding, has_bias=False)
    np.testing.assert_array_equal(no_db[0], dx)
    np.testing.assert_array_equal(no_db[1], dw)


def test_direct_backward_repeats_exactly_on_two_threads():
    """Each thread's chunk sums dW and db in its own area, added in a fixed order: no result depends on timing."""
    x, wt, b, dy = _direct_case(*DIRECT_SHAPES[2], np.float32)
    threads = pydl.get_num_threads()
    try:
        pydl.set_num_threads(2)
        a = K.conv2d_backward(x, wt, dy, 1, 1)
        b2 = K.conv2d_backward(x, wt, dy, 1, 1)
    finally:
        pydl.set_num_threads(threads)
    for u, v in zip(a, b2):
        np.testing.assert_array_equal(u, v)
