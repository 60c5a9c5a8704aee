"""The C++ activations agree with the NumPy reference at every SIMD level, dtype and awkward size."""
import numpy as np
import pytest

import pydl
from pydl import kernels as K
from pydl import reference as R

from conftest import DTYPES
from numgrad import numerical_grad

# Odd, prime and not-a-multiple-of-the-SIMD-width sizes, a 2-D case and one large enough for threads.
SHAPES = [(1,), (1, 1), (7,), (15,), (17,), (33,), (97,), (13, 17), (3, 5, 7), (1_000_003,)]
# Tolerances relative to the float's epsilon: the polynomial exp is within a few ulp.
RTOL = {np.float32: 4e-6, np.float64: 1e-14}
ATOL = {np.float32: 1e-37, np.float64: 1e-300}
EXTREMES = [-1e4, -1e3, -1e2, -20.0, -1.0, -1e-6, 0.0, 1e-6, 1.0, 20.0, 1e2, 1e3, 1e4]


def _random(rng, shape, dtype, scale=8.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_forward_matches_reference(name, shape, dtype, rng, simd_level, threads):
    x = _random(rng, shape, dtype)
    np.testing.assert_allclose(getattr(K, name)(x), getattr(R, name)(x), rtol=RTOL[dtype], atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_forward_is_finite_and_exact_at_extreme_inputs(name, dtype, simd_level):
    x = np.array(EXTREMES, dtype=dtype)
    y = getattr(K, name)(x)
    assert np.all(np.isfinite(y))
    expected = 1 / (1 + np.exp(-x.astype(np.longdouble))) if name == "sigmoid" else np.tanh(x.astype(np.longdouble))
    np.testing.assert_allclose(y, expected.astype(dtype), rtol=RTOL[dtype], atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_saturates_to_exactly_zero_and_one(dtype):
    y = K.sigmoid(np.array([-1e4, 1e4], dtype=dtype))
    assert y[0] == 0 and y[1] == 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_keeps_relative_precision_near_zero(dtype):
    x = np.array([1e-7, -3e-5, 1e-3, 0.6], dtype=dtype)
    np.testing.assert_allclose(K.tanh(x), np.tanh(x.astype(np.float64)).astype(dtype), rtol=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 10), (7, 3), (100, 10), (33, 1000)], ids=str)
def test_softmax_matches_reference_and_rows_sum_to_one(shape, dtype, rng, threads):
    x = _random(rng, shape, dtype, scale=30.0)
    y = K.softmax(x)
    np.testing.assert_allclose(y, R.softmax(x), rtol=RTOL[dtype] * 10, atol=ATOL[dtype])
    np.testing.assert_allclose(y.sum(axis=1), 1, rtol=RTOL[dtype] * 10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_does_not_overflow_on_huge_logits(dtype):
    y = K.softmax(np.array([[1e4, 0.0, -1e4]], dtype=dtype))
    np.testing.assert_array_equal(y, np.array([[1, 0, 0]], dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (17,), (13, 17), (300_007,)], ids=str)
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "softmax"])
def test_backward_matches_reference(name, shape, dtype, rng, threads):
    if name == "softmax":
        shape = (shape[0], 1) if len(shape) == 1 else shape
    x = _random(rng, shape, dtype)
    y = getattr(R, name)(x)
    dy = _random(rng, shape, dtype, scale=1.0)
    # softmax_backward subtracts a row dot product, so its error is absolute, of the order eps * |dy|.
    np.testing.assert_allclose(getattr(K, name + "_backward")(y, dy), getattr(R, name + "_backward")(y, dy),
                               rtol=RTOL[dtype] * 10, atol=20 * np.finfo(dtype).eps)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softmax"])
def test_backward_matches_numerical_gradient(name, rng):
    x = rng.standard_normal((4, 5))
    dy = rng.standard_normal((4, 5))
    forward = getattr(K, name)
    numeric = numerical_grad(lambda: np.sum(forward(x) * dy), x)
    analytic = getattr(K, name + "_backward")(forward(x), dy)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_relu_backward_passes_gradient_only_where_output_is_positive():
    y = np.array([0.0, 2.0, 0.0, 3.0])
    np.testing.assert_array_equal(K.relu_backward(y, np.ones(4)), [0, 1, 0, 1])


def test_out_argument_is_written_in_place_and_returned():
    x = np.linspace(-3, 3, 11)
    out = np.empty_like(x)
    assert K.sigmoid(x, out=out) is out
    np.testing.assert_allclose(out, R.sigmoid(x), rtol=1e-14)


def test_in_place_on_the_input_is_allowed():
    x = np.linspace(-3, 3, 11, dtype=np.float32)
    expected = R.sigmoid(x)
    K.sigmoid(x, out=x)
    np.testing.assert_allclose(x, expected, rtol=RTOL[np.float32])


def test_every_kernel_has_a_reference_twin():
    assert set(R.__all__) >= set(K.__all__), sorted(set(K.__all__) - set(R.__all__))
    assert pydl.build_info()["simd"] in {"generic", "avx2", "avx512"}
