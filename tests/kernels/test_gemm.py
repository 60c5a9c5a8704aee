"""pydl's GEMM (through kernels.matmul) agrees with NumPy at every SIMD level, thread count, transpose and
awkward size, and rejects bad input like its NumPy reference.

Tolerance: the rounding-error bound of a k-term dot product, |got - exact| <= 2 k eps (|op(a)| @ |op(b)|)
elementwise (eps of the dtype: float32 1.2e-7, float64 2.2e-16), against a float64 NumPy product.
"""
import numpy as np
import pytest

import pydl
from pydl import kernels as K
from pydl import reference as R

from conftest import DTYPES

TRANSPOSES = [(False, False), (True, False), (False, True), (True, True)]
TRANSPOSE_IDS = ["NN", "TN", "NT", "TT"]

# (m, n, k): single elements, primes and odd sizes that leave partial micro-tiles (14x32, 6x16, 6x8 and
# their float64 halves), few columns (the one-register-wide kernels), exact tiles, thin products, and sizes that cross every cache block (m > 280,
# k > 256, n > 4096) or are big enough to be split across threads (along n, and along m when m > n).
SHAPES = [(1, 1, 1), (4, 3, 2), (7, 13, 17), (33, 5, 40), (100, 10, 128), (14, 32, 64), (29, 65, 257),
          (97, 89, 101), (3, 1000, 2), (100, 256, 128), (130, 70, 300), (300, 40, 600), (2, 4100, 3)]


def _operands(rng, m, n, k, dtype, trans_a, trans_b):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    return a, b


def _op(x, trans):
    x = x.astype(np.float64)
    return x.T if trans else x


def assert_gemm_close(got, a, b, trans_a, trans_b, alpha=1.0, beta=0.0, c=None):
    pa, pb = _op(a, trans_a), _op(b, trans_b)
    exact = alpha * (pa @ pb)
    scale = abs(alpha) * (np.abs(pa) @ np.abs(pb))
    if beta != 0:
        exact += beta * c.astype(np.float64)
        scale += abs(beta) * np.abs(c.astype(np.float64))
    bound = 2 * (pa.shape[1] + 2) * np.finfo(got.dtype).eps * scale
    err = np.abs(got.astype(np.float64) - exact)
    assert np.all(err <= bound), f"max error {err.max():.3g}, worst ratio to bound {(err / bound).max():.3g}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a, trans_b", TRANSPOSES, ids=TRANSPOSE_IDS)
@pytest.mark.parametrize("m, n, k", SHAPES, ids=str)
def test_matmul_matches_numpy(m, n, k, trans_a, trans_b, dtype, rng, simd_level, threads):
    a, b = _operands(rng, m, n, k, dtype, trans_a, trans_b)
    got = K.matmul(a, b, trans_a=trans_a, trans_b=trans_b)
    assert got.shape == (m, n) and got.dtype == dtype
    assert_gemm_close(got, a, b, trans_a, trans_b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_large_product_matches_numpy(dtype, rng, simd_level):
    a, b = _operands(rng, 512, 300, 700, dtype, False, False)
    assert_gemm_close(K.matmul(a, b), a, b, False, False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a, trans_b", TRANSPOSES, ids=TRANSPOSE_IDS)
@pytest.mark.parametrize("m, n, k", [(1, 1, 1), (7, 13, 17), (33, 70, 300), (130, 70, 300)], ids=str)
def test_matmul_scales_by_alpha_and_adds_beta_times_out(m, n, k, trans_a, trans_b, dtype, rng, simd_level):
    a, b = _operands(rng, m, n, k, dtype, trans_a, trans_b)
    c = rng.standard_normal((m, n)).astype(dtype)
    out = c.copy()
    got = K.matmul(a, b, out, trans_a=trans_a, trans_b=trans_b, alpha=-0.75, beta=1.5)
    assert got is out
    assert_gemm_close(out, a, b, trans_a, trans_b, alpha=-0.75, beta=1.5, c=c)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, n, k", [(2, 3, 4), (7, 13, 17), (100, 256, 128)], ids=str)
def test_matmul_with_beta_zero_ignores_nan_in_out(m, n, k, dtype, rng, simd_level):
    a, b = _operands(rng, m, n, k, dtype, False, False)
    out = np.full((m, n), np.nan, dtype=dtype)
    K.matmul(a, b, out)
    assert_gemm_close(out, a, b, False, False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_with_alpha_zero_only_scales_out(dtype, rng):
    a, b = _operands(rng, 5, 6, 7, dtype, False, False)
    c = rng.standard_normal((5, 6)).astype(dtype)
    out = c.copy()
    K.matmul(a, b, out, alpha=0.0, beta=2.0)
    np.testing.assert_array_equal(out, 2 * c)


@pytest.mark.parametrize("impl", [K, R], ids=["kernels", "reference"])
def test_reference_matmul_agrees_with_kernel(impl, rng):
    a, b = _operands(rng, 9, 11, 13, np.float64, True, False)
    assert_gemm_close(impl.matmul(a, b, trans_a=True), a, b, True, False)


def test_build_info_names_the_packed_kernel_of_the_current_simd_level(simd_level):
    assert pydl.build_info()["gemm"].startswith(f"pydl packed {simd_level} (")


# Bad input: both backends raise the same error class with a message naming the argument.
IMPLS = pytest.mark.parametrize("impl", [K, R], ids=["kernels", "reference"])


def _f32(*shape):
    return np.ones(shape, dtype=np.float32)


@IMPLS
@pytest.mark.parametrize("dtype", [np.int64, np.float16])
def test_matmul_rejects_non_float_dtypes(impl, dtype):
    with pytest.raises(TypeError, match="matmul: a must have dtype float32 or float64"):
        impl.matmul(np.ones((2, 3), dtype=dtype), _f32(3, 2))


@IMPLS
def test_matmul_rejects_lists(impl):
    with pytest.raises(TypeError, match="matmul: b must be a numpy.ndarray"):
        impl.matmul(_f32(2, 3), [[1.0], [2.0], [3.0]])


@IMPLS
def test_matmul_rejects_mixed_dtypes(impl):
    with pytest.raises(TypeError, match="matmul: b has dtype float64 but a has float32"):
        impl.matmul(_f32(2, 3), np.ones((3, 2)))


@IMPLS
def test_matmul_rejects_mismatched_inner_dimensions_naming_both_shapes(impl):
    with pytest.raises(ValueError, match=r"matmul: b must have shape \(3, \?\) to match a \(2, 3\), got \(4, 5\)"):
        impl.matmul(_f32(2, 3), _f32(4, 5))
    with pytest.raises(ValueError, match=r"b must have shape \(\?, 2\) \(trans_b=True\) to match a \(2, 3\) "
                                         r"\(trans_a=True\), got \(5, 3\)"):
        impl.matmul(_f32(2, 3), _f32(5, 3), trans_a=True, trans_b=True)


@IMPLS
def test_matmul_rejects_non_2d_arrays(impl):
    with pytest.raises(ValueError, match=r"matmul: a must be 2-D, got shape \(6,\)"):
        impl.matmul(_f32(6), _f32(6, 1))


@IMPLS
def test_matmul_rejects_non_contiguous_input(impl):
    with pytest.raises(ValueError, match="matmul: a with shape .* is not C-contiguous"):
        impl.matmul(_f32(3, 4)[:, ::2], _f32(2, 2))


@IMPLS
def test_matmul_rejects_empty_input(impl):
    with pytest.raises(ValueError, match=r"matmul: a is empty \(shape \(0, 3\)\)"):
        impl.matmul(_f32(0, 3), _f32(3, 2))


@IMPLS
def test_matmul_rejects_nan_input(impl):
    b = _f32(3, 2)
    b[1, 1] = np.nan
    with pytest.raises(ValueError, match=r"matmul: b with shape \(3, 2\) contains NaN"):
        impl.matmul(_f32(2, 3), b)


@IMPLS
def test_matmul_rejects_nan_in_out_when_beta_adds_it(impl):
    out = np.full((2, 2), np.nan, dtype=np.float32)
    with pytest.raises(ValueError, match=r"matmul: out with shape \(2, 2\) contains NaN"):
        impl.matmul(_f32(2, 3), _f32(3, 2), out, beta=1.0)


@IMPLS
def test_matmul_rejects_beta_without_out(impl):
    with pytest.raises(ValueError, match="matmul: beta=.* out must be given"):
        impl.matmul(_f32(2, 3), _f32(3, 2), beta=1.0)


@IMPLS
def test_matmul_rejects_out_of_wrong_shape_or_dtype(impl):
    with pytest.raises(ValueError, match=r"matmul: out must have shape \(2, 2\), got \(2, 3\)"):
        impl.matmul(_f32(2, 3), _f32(3, 2), _f32(2, 3))
    with pytest.raises(TypeError, match="matmul: out must have dtype float32, got float64"):
        impl.matmul(_f32(2, 3), _f32(3, 2), np.zeros((2, 2)))


@IMPLS
def test_matmul_rejects_read_only_out(impl):
    out = _f32(2, 2)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="matmul: out is read-only"):
        impl.matmul(_f32(2, 3), _f32(3, 2), out)


@IMPLS
def test_matmul_rejects_out_sharing_memory_with_an_input(impl):
    a = _f32(3, 3)
    with pytest.raises(ValueError, match="matmul: out shares memory with a"):
        impl.matmul(a, _f32(3, 3), a)
