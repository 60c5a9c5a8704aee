"""The dense layer kernels agree with their NumPy reference, their gradients with numerical differences,
and bad input fails like the reference.

Tolerance for float32: the product's rounding bound grows with in_features, so rtol = 1e-4 relative to
the largest output, plus the activations' few ulp; float64 1e-12.
"""
import numpy as np
import pytest

from pydl import kernels as K
from pydl import reference as R

from conftest import DTYPES
from numgrad import numerical_grad

ACTIVATIONS = ["none", "relu", "sigmoid", "tanh"]
# (N, in_features, out_features): a 2->3->1 network's layers, odd sizes, a 10-class output layer.
SHAPES = [(4, 2, 3), (4, 3, 1), (7, 13, 17), (33, 65, 10)]
MNIST_LAYER = (100, 784, 256)
RTOL = {np.float32: 1e-4, np.float64: 1e-12}


def _layer(rng, n, n_in, n_out, dtype):
    x = rng.standard_normal((n, n_in)).astype(dtype)
    w = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    return x, w, b


def assert_close(got, expected, dtype):
    assert got.dtype == dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(expected).max())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("n, n_in, n_out", SHAPES, ids=str)
def test_dense_forward_matches_reference(n, n_in, n_out, activation, dtype, rng, simd_level, threads):
    x, w, b = _layer(rng, n, n_in, n_out, dtype)
    assert_close(K.dense_forward(x, w, b, activation), R.dense_forward(x, w, b, activation), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_forward_matches_reference_at_an_mnist_layer(activation, dtype, rng, threads):
    x, w, b = _layer(rng, *MNIST_LAYER, dtype)
    assert_close(K.dense_forward(x, w, b, activation), R.dense_forward(x, w, b, activation), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_forward_without_bias_is_activation_of_the_product(activation, dtype, rng):
    x, w, _ = _layer(rng, 33, 65, 10, dtype)
    assert_close(K.dense_forward(x, w, activation=activation), R.dense_forward(x, w, None, activation), dtype)


def test_dense_forward_writes_into_out_and_returns_it(rng):
    x, w, b = _layer(rng, 5, 4, 3, np.float64)
    out = np.full((5, 3), np.nan)
    assert K.dense_forward(x, w, b, "relu", out=out) is out
    assert_close(out, np.maximum(x @ w + b, 0), np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("need_dx, has_bias", [(True, True), (False, False)], ids=["all", "dw_only"])
@pytest.mark.parametrize("n, n_in, n_out", SHAPES + [MNIST_LAYER], ids=str)
def test_dense_backward_matches_reference(n, n_in, n_out, has_bias, need_dx, dtype, rng, simd_level, threads):
    x, w, _ = _layer(rng, n, n_in, n_out, dtype)
    dy = rng.standard_normal((n, n_out)).astype(dtype)
    got = K.dense_backward(x, w, dy, need_dx=need_dx, has_bias=has_bias)
    expected = R.dense_backward(x, w, dy, need_dx=need_dx, has_bias=has_bias)
    for g, e in zip(got, expected):
        if e is None:
            assert g is None
        else:
            assert_close(g, e, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_backward_accumulate_adds_into_given_dw_and_db(dtype, rng):
    x, w, _ = _layer(rng, 20, 30, 40, dtype)
    dy = rng.standard_normal((20, 40)).astype(dtype)
    dw0 = rng.standard_normal((30, 40)).astype(dtype)
    db0 = rng.standard_normal(40).astype(dtype)
    dw, db = dw0.copy(), db0.copy()
    _, dw_out, db_out = K.dense_backward(x, w, dy, dw=dw, db=db, need_dx=False, accumulate=True)
    assert dw_out is dw and db_out is db
    assert_close(dw, dw0 + x.T @ dy, dtype)
    assert_close(db, db0 + dy.sum(axis=0), dtype)


def test_dense_backward_overwrites_given_grads_without_accumulate(rng):
    x, w, _ = _layer(rng, 6, 5, 4, np.float64)
    dy = rng.standard_normal((6, 4))
    dx, dw, db = np.full((6, 5), np.nan), np.full((5, 4), np.nan), np.full(4, np.nan)
    K.dense_backward(x, w, dy, dx=dx, dw=dw, db=db)
    assert_close(dx, dy @ w.T, np.float64)
    assert_close(dw, x.T @ dy, np.float64)
    assert_close(db, dy.sum(axis=0), np.float64)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_backward_matches_centered_differences(activation, rng):
    """L = sum(g * y), y = dense_forward(x, w, b): dL/dz = g * act'(z) is fed to dense_backward."""
    x, w, b = _layer(rng, 5, 4, 3, np.float64)
    x += 0.1 * np.sign(x)  # keep relu's kink away from the differences' reach
    g = rng.standard_normal((5, 3))

    def loss():
        return float(np.sum(g * K.dense_forward(x, w, b, activation)))

    y = K.dense_forward(x, w, b, activation)
    act_grad = {"none": np.ones_like(y), "relu": (y > 0).astype(float), "sigmoid": y * (1 - y), "tanh": 1 - y * y}
    dx, dw, db = K.dense_backward(x, w, g * act_grad[activation])
    for param, grad in ((x, dx), (w, dw), (b, db)):
        numeric = numerical_grad(loss, param)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


# Bad input: both backends raise the same error class with a message naming the argument and shapes.
IMPLS = pytest.mark.parametrize("impl", [K, R], ids=["kernels", "reference"])


def _f32(*shape):
    return np.ones(shape, dtype=np.float32)


@IMPLS
def test_dense_forward_rejects_w_not_matching_x_naming_both_shapes(impl):
    with pytest.raises(ValueError, match=r"dense_forward: w must have shape \(784, \?\) to match x \(100, 784\), "
                                         r"got \(785, 256\)"):
        impl.dense_forward(_f32(100, 784), _f32(785, 256))


@IMPLS
def test_dense_forward_rejects_b_not_matching_w(impl):
    with pytest.raises(ValueError, match=r"dense_forward: b must have shape \(3,\) to match w \(2, 3\), got \(2,\)"):
        impl.dense_forward(_f32(4, 2), _f32(2, 3), _f32(2))


@IMPLS
def test_dense_forward_rejects_unknown_activation(impl):
    with pytest.raises(ValueError, match="dense_forward: activation must be .* got 'softplus'"):
        impl.dense_forward(_f32(4, 2), _f32(2, 3), activation="softplus")


@IMPLS
@pytest.mark.parametrize("dtype", [np.int32, np.float16])
def test_dense_forward_rejects_non_float_dtypes(impl, dtype):
    with pytest.raises(TypeError, match="dense_forward: x must have dtype float32 or float64"):
        impl.dense_forward(np.ones((4, 2), dtype=dtype), _f32(2, 3))


@IMPLS
def test_dense_forward_rejects_mixed_dtypes(impl):
    with pytest.raises(TypeError, match="dense_forward: b has dtype float64 but x has float32"):
        impl.dense_forward(_f32(4, 2), _f32(2, 3), np.ones(3))


@IMPLS
def test_dense_forward_rejects_non_contiguous_x(impl):
    with pytest.raises(ValueError, match="dense_forward: x with shape .* is not C-contiguous"):
        impl.dense_forward(_f32(2, 4).T, _f32(2, 3))


@IMPLS
def test_dense_forward_rejects_empty_batch(impl):
    with pytest.raises(ValueError, match=r"dense_forward: x is empty \(shape \(0, 2\)\)"):
        impl.dense_forward(_f32(0, 2), _f32(2, 3))


@IMPLS
def test_dense_forward_rejects_nan_weights(impl):
    w = _f32(2, 3)
    w[0, 2] = np.nan
    with pytest.raises(ValueError, match=r"dense_forward: w with shape \(2, 3\) contains NaN"):
        impl.dense_forward(_f32(4, 2), w)


@IMPLS
def test_dense_forward_rejects_read_only_out(impl):
    out = _f32(4, 3)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="dense_forward: out is read-only"):
        impl.dense_forward(_f32(4, 2), _f32(2, 3), out=out)


@IMPLS
def test_dense_backward_rejects_dy_not_matching_the_layer(impl):
    with pytest.raises(ValueError, match=r"dense_backward: dy must have shape \(4, 3\) to match x \(4, 2\) and "
                                         r"w \(2, 3\), got \(4, 2\)"):
        impl.dense_backward(_f32(4, 2), _f32(2, 3), _f32(4, 2))


@IMPLS
def test_dense_backward_rejects_nan_in_dy(impl):
    dy = _f32(4, 3)
    dy[3, 0] = np.nan
    with pytest.raises(ValueError, match=r"dense_backward: dy with shape \(4, 3\) contains NaN"):
        impl.dense_backward(_f32(4, 2), _f32(2, 3), dy)


@IMPLS
def test_dense_backward_rejects_dw_of_wrong_shape(impl):
    with pytest.raises(ValueError, match=r"dense_backward: dw must have shape \(2, 3\), got \(3, 2\)"):
        impl.dense_backward(_f32(4, 2), _f32(2, 3), _f32(4, 3), dw=_f32(3, 2))


@IMPLS
def test_dense_backward_rejects_read_only_db(impl):
    db = _f32(3)
    db.flags.writeable = False
    with pytest.raises(ValueError, match="dense_backward: db is read-only"):
        impl.dense_backward(_f32(4, 2), _f32(2, 3), _f32(4, 3), db=db)


@IMPLS
def test_dense_backward_accumulate_requires_the_grads_to_add_into(impl):
    with pytest.raises(ValueError, match="dense_backward: accumulate=True adds into dw and db, so they must be given"):
        impl.dense_backward(_f32(4, 2), _f32(2, 3), _f32(4, 3), dw=_f32(2, 3), accumulate=True)


@IMPLS
def test_dense_backward_rejects_grads_it_was_told_not_to_compute(impl):
    with pytest.raises(ValueError, match="dense_backward: dx was given but need_dx=False"):
        impl.dense_backward(_f32(4, 2), _f32(2, 3), _f32(4, 3), dx=_f32(4, 2), need_dx=False)
    with pytest.raises(ValueError, match="dense_backward: db was given but has_bias=False"):
        impl.dense_backward(_f32(4, 2), _f32(2, 3), _f32(4, 3), db=_f32(3), has_bias=False)


@IMPLS
def test_dense_backward_rejects_grad_sharing_memory_with_an_input(impl):
    x = _f32(3, 3)
    with pytest.raises(ValueError, match="dense_backward: dx shares memory with x"):
        impl.dense_backward(x, _f32(3, 3), _f32(3, 3), dx=x)


# ---- narrow layers: the feature-major kernels and the row-major ones give the same bits ------------------

_FM_ACTS = ["none", "relu", "sigmoid", "tanh"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 15, 16, 17, 1000])
@pytest.mark.parametrize("activation", _FM_ACTS)
def test_narrow_layers_give_the_same_bits_in_either_layout_and_fused_or_apart(dtype, n, activation, simd_level):
    """The plan of a narrow network runs dense_forward_fm/dense_backward_fm with the activation layer folded
    in; the Python layers run dense_forward, the activation's kernels and dense_backward: equal to the bit."""
    r = np.random.default_rng(n)
    x, w, b = (r.normal(size=s).astype(dtype) for s in ((n, 3), (3, 4), (4,)))
    dy = r.normal(size=(n, 4)).astype(dtype)
    y = K.dense_forward(x, w, b, activation)
    if activation != "none":
        assert np.array_equal(getattr(K, activation)(K.dense_forward(x, w, b)), y)
    assert np.array_equal(K.dense_forward_fm(x.T.copy(), w, b, activation), y.T)
    dz = dy if activation == "none" else getattr(K, activation + "_backward")(y, dy)
    dx, dw, db = K.dense_backward(x, w, dz)
    y_fm = None if activation == "none" else y.T.copy()
    dx_fm, dw_fm, db_fm = K.dense_backward_fm(x.T.copy(), w, dy.T.copy(), y_fm, activation)
    assert np.array_equal(dx_fm, dx.T) and np.array_equal(dw_fm, dw) and np.array_equal(db_fm, db)


@pytest.mark.parametrize("activation", _FM_ACTS)
def test_feature_major_kernels_match_their_numpy_twins(activation):
    r = np.random.default_rng(1)
    x, w, b, dy = r.normal(size=(2, 37)), r.normal(size=(2, 3)), r.normal(size=3), r.normal(size=(3, 37))
    y = K.dense_forward_fm(x, w, b, activation)
    np.testing.assert_allclose(y, R.dense_forward_fm(x, w, b, activation), rtol=1e-12, atol=1e-14)
    y_arg = None if activation == "none" else y
    for got, want in zip(K.dense_backward_fm(x, w, dy, y_arg, activation),
                         R.dense_backward_fm(x, w, dy, y_arg, activation)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("fn", ["dense_forward_fm", "dense_backward_fm"])
def test_feature_major_kernels_take_narrow_layers_only(fn):
    x, w = np.zeros((5, 3)), np.zeros((5, 2))
    args = (x, w) if fn == "dense_forward_fm" else (x, w, np.zeros((2, 3)))
    for module in (K, R):
        with pytest.raises(ValueError, match=f"{fn}: narrow layers only"):
            getattr(module, fn)(*args)
