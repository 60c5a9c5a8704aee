"""The C++ losses agree with the reference, stay finite at extreme inputs and have correct gradients."""
import numpy as np
import pytest

from pydl import kernels as K
from pydl import reference as R

import pydl
from conftest import DTYPES, SIMD_LEVELS, loss_rel
from numgrad import numerical_grad

RTOL = {np.float32: 1e-5, np.float64: 1e-12}
SHAPES = [(1, 1), (7, 1), (13, 3), (100, 10), (97, 13)]


def _case(name, shape, dtype, rng):
    """Input and target for a loss; classification losses also get integer labels."""
    z = (rng.standard_normal(shape) * 4).astype(dtype)
    binary = (rng.random(shape) > 0.5).astype(dtype)
    labels = rng.integers(0, shape[1], shape[0])
    return {
        "mse_loss": (z, rng.standard_normal(shape).astype(dtype)),
        "bce_loss": (R.sigmoid(z), binary),
        "bce_with_logits_loss": (z, binary),
        "softmax_cross_entropy": (z, labels),
        "multi_bce_loss": (z, labels),
    }[name]


LOSSES = ["mse_loss", "bce_loss", "bce_with_logits_loss", "softmax_cross_entropy", "multi_bce_loss"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", LOSSES)
def test_loss_and_gradient_match_reference(name, shape, dtype, rng):
    x, target = _case(name, shape, dtype, rng)
    loss, grad = getattr(K, name)(x, target)
    ref_loss, ref_grad = getattr(R, name)(x, target)
    assert isinstance(loss, float)
    assert grad.dtype == dtype and grad.shape == x.shape
    assert loss == pytest.approx(ref_loss, rel=loss_rel(name, dtype))
    if name == "bce_loss":  # the same operations in the same dtype: the same bits
        np.testing.assert_array_equal(grad, ref_grad)
    # Gradient entries are differences like p - 1 scaled by 1/n: their error is absolute, a few eps of the largest.
    np.testing.assert_allclose(grad, ref_grad, rtol=RTOL[dtype], atol=8 * np.finfo(dtype).eps * np.abs(ref_grad).max())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax_cross_entropy", "multi_bce_loss"])
def test_one_hot_targets_equal_integer_labels(name, dtype, rng):
    z = rng.standard_normal((9, 4)).astype(dtype)
    labels = rng.integers(0, 4, 9)
    onehot = np.eye(4, dtype=dtype)[labels]
    by_label, by_row = getattr(K, name)(z, labels), getattr(K, name)(z, onehot)
    assert by_label[0] == pytest.approx(by_row[0], rel=1e-12)
    np.testing.assert_allclose(by_label[1], by_row[1], rtol=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("z", [-1e4, -1e3, -1e2, 1e2, 1e3, 1e4])
@pytest.mark.parametrize("t", [0.0, 1.0])
def test_bce_with_logits_is_finite_and_exact_at_extremes(z, t, dtype):
    loss, grad = K.bce_with_logits_loss(np.array([[z]], dtype), np.array([[t]], dtype))
    wrong_side = (z > 0) != (t == 1)
    assert loss == pytest.approx(abs(z) if wrong_side else 0.0, abs=1e-30, rel=1e-12)
    assert grad[0, 0] == pytest.approx((1.0 if z > 0 else 0.0) - t, abs=1e-30)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.0, 1.0, 1e-30, 1 - 1e-12])
@pytest.mark.parametrize("t", [0.0, 1.0])
def test_bce_clips_probabilities_at_exact_zero_and_one(p, t, dtype):
    prob, target = np.array([[p]], dtype), np.array([[t]], dtype)
    loss, grad = K.bce_loss(prob, target, eps=1e-7)
    ref_loss, ref_grad = R.bce_loss(prob, target, eps=1e-7)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert loss == pytest.approx(ref_loss, rel=loss_rel("bce_loss", dtype))
    np.testing.assert_array_equal(grad, ref_grad)
    assert loss <= -np.log(1e-7) * 1.0001


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_is_finite_for_huge_logits(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e3, 1e3, 1e2]], dtype)
    loss, grad = K.softmax_cross_entropy(z, np.array([1, 0]))
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert loss == pytest.approx((2e4 + 2e3) / 2, rel=1e-6)


@pytest.mark.parametrize("name", LOSSES)
def test_gradient_matches_centered_differences(name, rng):
    x, target = _case(name, (6, 4), np.float64, rng)
    if name == "bce_loss":
        x = np.clip(x, 0.05, 0.95)  # inside the clip range, where the loss is smooth
    _, grad = getattr(K, name)(x, target)
    numeric = numerical_grad(lambda: getattr(K, name)(x, target)[0], x)
    # Centered differences with h = 1e-6 carry an absolute error of about 1e-16 / 1e-6.
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_softmax_cross_entropy_accepts_any_integer_label_dtype():
    z = np.zeros((3, 4))
    for dtype in (np.int8, np.int32, np.uint16, np.int64):
        assert K.softmax_cross_entropy(z, np.array([0, 3, 1], dtype))[0] == pytest.approx(np.log(4))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 8, 255, 256, 257, 1000, 3001])
def test_bce_same_bits_at_every_simd_level(n, dtype, rng):
    """BCE's loop is compiled per instruction set and sums in fixed lanes: every level gives the same bits."""
    from pydl import _core

    prob = rng.random(n).astype(dtype)
    prob[::5] = rng.choice([0.0, 1.0, 1e-30, 1 - 1e-9], size=prob[::5].size).astype(dtype)
    target = rng.random(n).astype(dtype)
    target[::3] = np.round(target[::3])
    previous = pydl.build_info()["simd"]
    cpu = pydl.build_info()["cpu_simd"]
    results = []
    try:
        for level in SIMD_LEVELS[: SIMD_LEVELS.index(cpu) + 1]:
            _core.set_simd_level(level)
            loss, grad = K.bce_loss(prob, target)
            results.append((loss, grad.tobytes()))
    finally:
        _core.set_simd_level(previous)
    assert all(r == results[0] for r in results[1:])
    ref_loss, ref_grad = R.bce_loss(prob, target)
    np.testing.assert_allclose(results[0][0], ref_loss, rtol=loss_rel("bce_loss", dtype))
    np.testing.assert_array_equal(np.frombuffer(results[0][1], dtype), ref_grad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("eps", [1e-7, 1e-30, 1e-45, 1e-310, 5e-324])
def test_bce_tiny_eps_matches_reference(eps, dtype, simd_level):
    """vlog handles subnormal and zero clipped probabilities (a tiny eps, or one that rounds to 0 in float32)."""
    prob = np.array([0.0, 1.0, 0.5, 1e-40, 3e-320, 0.25], dtype=dtype)
    for t in ([0.0, 1.0, 1.0, 1.0, 1.0, 0.0], [0.0, 1.0, 0.5, 0.0, 0.0, 1.0]):
        target = np.array(t, dtype=dtype)
        with np.errstate(all="ignore"):
            ref_loss, ref_grad = R.bce_loss(prob, target, eps=eps)
            loss, grad = K.bce_loss(prob, target, eps=eps)
        np.testing.assert_allclose(loss, ref_loss, rtol=RTOL[dtype])
        np.testing.assert_allclose(grad, ref_grad, rtol=RTOL[dtype])
