"""Regression tests for the kernel-boundary hardening (issue 11): each class of crash, wrong exception,
silent garbage or write-before-raise the kernel fuzzer found, on both backends where both take part."""
import math
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import pytest

from pydl import kernels as K
from pydl import reference as R

BACKENDS = pytest.mark.parametrize("B", [K, R], ids=["cpp", "numpy"])


def _run_isolated(code, timeout=60):
    """Runs code in a fresh interpreter, so a crash or hang fails this test instead of killing the run. It
    starts outside the checkout, whose pydl/ folder would shadow the installed package."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, cwd=tempfile.gettempdir())
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr[-3000:]}"
    return proc.stdout


class BadIndex:
    def __index__(self):
        raise RuntimeError("no index for you")


class HugeIndex:
    def __index__(self):
        return 2 ** 80


X4 = np.arange(2 * 3 * 6 * 6, dtype=np.float64).reshape(2, 3, 6, 6) / 50
W4 = np.ones((4, 3, 3, 3)) / 9
SCALAR_OBJECTS = [np.array([1]), np.array([1.0]), np.array(1), np.array(1.5), 1.5, BadIndex(), HugeIndex(),
                  True, "1", [1, 2, 3], (1,), (1, 2.0), object(), np.float64(1.0), 1 + 0j]


# ---- 1. scalar arguments: one parser, TypeError naming the argument, never a crash

def _geometry_calls(B, v):
    dy = np.ones((2, 3, 3, 3))
    return {
        "conv2d_forward stride": lambda: B.conv2d_forward(X4, W4, None, stride=v),
        "conv2d_forward padding": lambda: B.conv2d_forward(X4, W4, None, padding=v),
        "conv2d_backward stride": lambda: B.conv2d_backward(X4, W4, np.ones((2, 4, 4, 4)), stride=v),
        "max_pool2d_forward kernel_size": lambda: B.max_pool2d_forward(X4, v),
        "max_pool2d_forward stride": lambda: B.max_pool2d_forward(X4, 2, stride=v),
        "avg_pool2d_forward padding": lambda: B.avg_pool2d_forward(X4, 2, padding=v),
        "avg_pool2d_backward kernel_size": lambda: B.avg_pool2d_backward(dy, (2, 3, 6, 6), v),
        "avg_pool2d_backward x_shape": lambda: B.avg_pool2d_backward(dy, (2, 3, v, 6), 2),
        "max_pool2d_backward x_shape": lambda: B.max_pool2d_backward(dy, np.zeros(dy.shape, np.int64),
                                                                     (2, v, 6, 6)),
    }


@BACKENDS
@pytest.mark.parametrize("v", SCALAR_OBJECTS, ids=lambda v: type(v).__name__ + "-" + repr(v)[:20])
def test_geometry_scalars_that_are_not_plain_ints_are_type_errors(B, v):
    for what, call in _geometry_calls(B, v).items():
        with pytest.raises(TypeError) as e:
            call()
        name = what.split()[1]
        assert name in str(e.value), (what, str(e.value))


def test_geometry_scalar_crashes_are_gone_in_a_fresh_process():
    # The old bindings dereferenced the NULL from a failing __index__ (SIGSEGV).
    _run_isolated("""
        import numpy as np
        from pydl import kernels as K
        x = np.ones((1, 1, 4, 4)); w = np.ones((1, 1, 2, 2))
        for v in (np.array([1.0]), np.array([1]), np.array(2.5)):
            for call in (lambda: K.conv2d_forward(x, w, None, v), lambda: K.max_pool2d_forward(x, v),
                         lambda: K.avg_pool2d_backward(np.ones((1, 1, 2, 2)), (1, 1, v, 4), 2)):
                try:
                    call()
                except TypeError:
                    pass
        print("ok")
    """)


@BACKENDS
def test_pair_with_a_float_and_bool_as_int_are_type_errors(B):
    with pytest.raises(TypeError, match=r"stride\[1\] must be an int"):
        B.conv2d_forward(X4, W4, stride=(1, 2.0))
    with pytest.raises(TypeError, match=r"padding must be an int or a pair"):
        B.conv2d_forward(X4, W4, padding=True)
    with pytest.raises(TypeError, match=r"step must be an int, got bool"):
        B.adam_step(np.zeros(3), np.ones(3), np.zeros(3), np.zeros(3), step=True)


@BACKENDS
def test_numpy_integer_scalars_are_ints(B):
    y = B.conv2d_forward(X4, W4, None, np.int64(2), (np.int32(1), np.uint8(0)))
    assert y.shape == (2, 4, 3, 2)


@BACKENDS
def test_float_hyperparameters_take_numbers_only_and_finite(B):
    args = (np.zeros(3), np.ones(3))
    for lr in (np.array([0.1]), np.array(0.1), "0.1", None, 1j, True):
        with pytest.raises(TypeError, match=r"sgd_step: lr must be a number"):
            B.sgd_step(*args, lr=lr)
    for lr in (math.inf, -math.inf, math.nan, 10 ** 400):
        with pytest.raises(ValueError, match=r"sgd_step: lr"):
            B.sgd_step(*args, lr=lr)
    with pytest.raises(ValueError, match=r"adam_step: eps must be finite"):
        B.adam_step(np.zeros(3), np.ones(3), np.zeros(3), np.zeros(3), step=1, eps=math.nan)
    with pytest.raises(ValueError, match=r"sgd_step: momentum must be finite"):
        B.sgd_step(np.zeros(3), np.ones(3), np.zeros(3), lr=0.1, momentum=math.nan)
    with pytest.raises(ValueError, match=r"matmul: alpha must be finite"):
        B.matmul(np.ones((2, 2)), np.ones((2, 2)), alpha=math.nan)
    with pytest.raises(ValueError, match=r"bce_loss: eps must be finite"):
        B.bce_loss(np.full(2, 0.5), np.ones(2), eps=math.nan)


@BACKENDS
def test_bool_flags_take_bools_only(B):
    with pytest.raises(TypeError, match=r"need_dx must be True or False"):
        B.conv2d_backward(X4, W4, np.ones((2, 4, 4, 4)), need_dx=None)
    with pytest.raises(TypeError, match=r"nesterov must be True or False"):
        B.sgd_step(np.zeros(3), np.ones(3), np.zeros(3), lr=0.1, momentum=0.9, nesterov=np.array([True]))
    with pytest.raises(TypeError, match=r"trans_a must be True or False"):
        B.matmul(np.ones((2, 2)), np.ones((2, 2)), trans_a=1)
    B.matmul(np.ones((2, 2)), np.ones((2, 2)), trans_a=np.bool_(True))
    with pytest.raises(TypeError, match=r"activation must be a str"):
        B.dense_forward(np.ones((2, 2)), np.ones((2, 2)), activation=b"relu")


@BACKENDS
def test_positional_order_and_missing_keywords_are_type_errors(B):
    with pytest.raises(TypeError):
        B.conv2d_forward(X4, W4, 1, 0)  # stride passed as b
    with pytest.raises(TypeError):
        B.max_pool2d_forward(X4, stride=2)
    with pytest.raises(TypeError):
        B.max_pool2d_backward(np.ones((2, 3, 3, 3)), (2, 3, 6, 6), np.zeros((2, 3, 3, 3), np.int64))
    with pytest.raises(TypeError):
        B.avg_pool2d_backward(np.ones((2, 3, 3, 3)), 2, (2, 3, 6, 6))
    with pytest.raises(TypeError):
        B.adam_step(np.zeros(3), np.ones(3), np.zeros(3), np.zeros(3))  # step is required
    with pytest.raises(TypeError):
        B.sgd_step(np.zeros(3), np.ones(3), None, 0.1)  # lr is keyword-only


@BACKENDS
@pytest.mark.parametrize("x_shape", [np.array([2, 3, 6, 6]), {"a": 1}, "2366", (2, 3, 6), (2, 3, 6, 6, 1),
                                     (2, 3, 6.0, 6), iter((2, 3, 6, 6))])
def test_x_shape_must_be_a_tuple_of_four_ints(B, x_shape):
    with pytest.raises(TypeError, match=r"x_shape"):
        B.max_pool2d_backward(np.ones((2, 3, 3, 3)), np.zeros((2, 3, 3, 3), np.int64), x_shape)


# ---- 2. sizes in checked arithmetic: ValueError fast, never overflow, hang or gigabytes

HUGE = [2 ** 62, 2 ** 63 - 1, 2 ** 63, 2 ** 64, 2 ** 31]


@BACKENDS
@pytest.mark.parametrize("v", HUGE)
def test_huge_geometry_is_a_value_error(B, v):
    x, w = np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3))
    t0 = time.perf_counter()
    for call in (lambda: B.conv2d_forward(x, w, None, 1, v), lambda: B.conv2d_forward(x, w, None, v, 0),
                 lambda: B.conv2d_backward(x, w, np.ones((1, 1, 1, 1)), v, 0),
                 lambda: B.max_pool2d_forward(x, v), lambda: B.avg_pool2d_forward(x, 3, v),
                 lambda: B.avg_pool2d_forward(x, 2 * v, padding=v)):
        with pytest.raises(ValueError):
            call()
    assert time.perf_counter() - t0 < 1.0


def test_huge_geometry_crashes_are_gone_in_a_fresh_process():
    # Padding near 2^63 wrapped the output-size check (heap overflow), stride 2^62 segfaulted, 2^63-1 hung.
    _run_isolated("""
        import numpy as np
        from pydl import kernels as K
        x, w = np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3))
        for v in (2**62, 2**63 - 1, 2**63 - 2, 2**62 + 1):
            for call in (lambda: K.conv2d_forward(x, w, None, 1, v), lambda: K.conv2d_forward(x, w, None, v, 0),
                         lambda: K.conv2d_backward(x, w, np.ones((1, 1, 1, 1)), v, 0)):
                try:
                    call()
                except ValueError:
                    pass
        print("ok")
    """, timeout=30)


@pytest.mark.parametrize("stride", [10 ** 7, 10 ** 8, 2 ** 31 - 1])
def test_large_strides_compute_the_single_output_quickly_and_in_little_memory(stride):
    out = _run_isolated(f"""
        import resource, numpy as np
        from pydl import kernels as K, reference as R
        rng = np.random.default_rng(0)
        x, w, b = rng.standard_normal((2, 3, 9, 9)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        y = K.conv2d_forward(x, w, b, {stride}, 1)
        dx, dw, db = K.conv2d_backward(x, w, np.ones_like(y), {stride}, 1)
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        assert y.shape == (2, 4, 1, 1), y.shape
        np.testing.assert_allclose(y, R.conv2d_forward(x, w, b, {stride}, 1), rtol=1e-12, atol=1e-12)
        for got, want in zip((dx, dw, db), R.conv2d_backward(x, w, np.ones_like(y), {stride}, 1)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        print(grown_mb)
    """, timeout=30)
    assert float(out) < 100


@BACKENDS
def test_padding_that_would_stage_gigabytes_is_a_value_error(B):
    with pytest.raises(ValueError, match=r"zero-padded sample would hold .* limit 2\*\*28"):
        B.conv2d_forward(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), None, 10 ** 7, 10 ** 5)


@BACKENDS
def test_avg_pool_divisor_of_a_huge_kernel(B):
    # kH * kW overflowed int64 (2^32 squared wraps to 0): now out of range, and the largest kernel allowed is exact.
    x = np.full((1, 1, 1, 1), 3.0)
    with pytest.raises(ValueError, match=r"kernel_size must be at most 2\*\*31 - 1"):
        B.avg_pool2d_forward(x, 2 ** 32, padding=2 ** 31)
    k = 2 ** 31 - 1
    y = B.avg_pool2d_forward(x, k, padding=k // 2)
    assert y.shape == (1, 1, 1, 1) and y[0, 0, 0, 0] == pytest.approx(3.0 / k / k, rel=1e-15)


@BACKENDS
def test_huge_x_shape_is_a_value_error(B):
    dy = np.ones((1, 1, 1, 1))
    with pytest.raises(ValueError, match=r"dx of shape .* too large|out of range"):
        B.max_pool2d_backward(dy, np.zeros((1, 1, 1, 1), np.int64), (1, 1, 2 ** 40, 2 ** 40))
    with pytest.raises(ValueError):
        B.avg_pool2d_backward(dy, (1, 1, 2 ** 62, 2 ** 62), 2 ** 31 - 1)


# ---- 3. arrays: exact ndarray, real aligned memory, no partial overlap

@BACKENDS
def test_broadcast_label_views_are_value_errors(B):
    huge = np.broadcast_to(np.int64(0), (2 ** 32 + 1,))
    for fn in (B.softmax_cross_entropy, B.multi_bce_loss):
        with pytest.raises(ValueError, match=r"shape \(2,\)"):
            fn(np.zeros((2, 3)), huge)
        with pytest.raises(ValueError, match=r"broadcast view"):
            fn(np.zeros((2, 3)), np.broadcast_to(np.int64(1), (2,)))
        with pytest.raises(ValueError, match=r"broadcast view"):
            fn(np.zeros((2, 3)), np.broadcast_to(np.float64(0.5), (2, 3)))


def test_huge_broadcast_targets_do_not_crash_in_a_fresh_process():
    _run_isolated("""
        import numpy as np
        from pydl import kernels as K
        huge = np.broadcast_to(np.int64(0), (2**32 + 1,))
        for fn in (K.softmax_cross_entropy, K.multi_bce_loss):
            try:
                fn(np.zeros((2, 3)), huge)
            except ValueError:
                pass
        print("ok")
    """)


@BACKENDS
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_np_matrix_is_read_as_the_plain_array(B):
    rng = np.random.default_rng(0)
    p, g, sq = rng.standard_normal((2, 3)), rng.standard_normal((2, 3)), rng.random((2, 3))
    p1, sq1 = p.copy(), sq.copy()
    B.rmsprop_step(p1, g, sq1, lr=0.1)
    p2, sq2 = p.copy(), sq.copy()
    B.rmsprop_step(p2, np.matrix(g), sq2, lr=0.1)
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_array_equal(sq1, sq2)
    z, t = rng.standard_normal((2, 3)), (rng.random((2, 3)) > 0.5).astype(np.float64)
    assert B.multi_bce_loss(z, np.matrix(t))[0] == B.multi_bce_loss(z, t)[0]
    out = np.matrix(np.zeros((2, 3)))
    B.relu(z, out=out)
    np.testing.assert_array_equal(np.asarray(out), np.maximum(z, 0))


@BACKENDS
def test_masked_arrays_are_refused(B):
    with pytest.raises(TypeError, match=r"masked array"):
        B.relu(np.ma.masked_array(np.ones(3), mask=[0, 1, 0]))


def _unaligned(n):
    buf = np.zeros(n * 8 + 1, np.uint8)
    a = np.ndarray((n,), np.float64, buffer=buf, offset=1)
    assert not a.flags.aligned
    return a


@BACKENDS
def test_unaligned_arrays_are_value_errors(B):
    a = _unaligned(4)
    with pytest.raises(ValueError, match=r"x is not aligned"):
        B.sigmoid(a)
    with pytest.raises(ValueError, match=r"out is not aligned"):
        B.sigmoid(np.ones(4), out=a)
    with pytest.raises(ValueError, match=r"param is not aligned"):
        B.sgd_step(a, np.ones(4), lr=0.1)


@BACKENDS
def test_partial_overlap_of_output_and_input_is_a_value_error(B):
    buf = np.linspace(-1, 1, 10)
    with pytest.raises(ValueError, match=r"out shares memory with x"):
        B.relu(buf[:-1], out=buf[1:])
    with pytest.raises(ValueError, match=r"out shares memory with y"):
        B.sigmoid_backward(buf[:-1], np.ones(9), out=buf[1:])
    z = np.linspace(-1, 1, 12).reshape(3, 4)
    with pytest.raises(ValueError, match=r"grad shares memory with logits"):
        B.softmax_cross_entropy(z, np.array([0, 1, 2]), grad=z)
    with pytest.raises(ValueError, match=r"grad shares memory with pred"):
        B.mse_loss(z, np.zeros((3, 4)), grad=z)
    p = np.zeros(6)
    with pytest.raises(ValueError, match=r"grad shares memory with param"):
        B.sgd_step(p[:5], p[1:], lr=0.1)
    with pytest.raises(ValueError, match=r"exp_avg shares memory with param"):
        B.adam_step(p[:3], np.ones(3), p[1:4], np.zeros(3), step=1)
    x = np.ones((1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"out shares memory with x"):
        B.conv2d_forward(x, np.ones((1, 1, 3, 3)), out=x.reshape(-1)[:4].reshape(1, 1, 2, 2))


@BACKENDS
def test_exact_in_place_activation_is_allowed_and_correct(B):
    x = np.linspace(-3, 3, 12).reshape(3, 4)
    for name in ("sigmoid", "tanh", "relu", "softmax"):
        a = x.copy()
        want = getattr(B, name)(x)
        assert getattr(B, name)(a, out=a) is not None
        np.testing.assert_allclose(a, want, rtol=1e-15)
    y, dy = B.sigmoid(x), np.ones_like(x)
    want = B.sigmoid_backward(y, dy)
    B.sigmoid_backward(y, dy, out=dy)
    np.testing.assert_allclose(dy, want, rtol=1e-15)


@BACKENDS
def test_hyperparameters_that_overflow_float32_are_value_errors(B):
    a = np.ones((2, 2), np.float32)
    with pytest.raises(ValueError, match=r"alpha=\S+ overflows float32"):
        B.matmul(a, a, alpha=1e300)
    with pytest.raises(ValueError, match=r"lr=\S+ overflows float32"):
        B.sgd_step(np.zeros(2, np.float32), np.ones(2, np.float32), lr=1e39)
    B.sgd_step(np.zeros(2), np.ones(2), lr=1e39)  # fits float64


@BACKENDS
def test_a_float32_dtype_with_metadata_is_float32(B):
    dt = np.dtype(np.float32, metadata={"unit": "m"})
    x = np.ones(3, dt)
    np.testing.assert_array_equal(B.relu(x, out=np.zeros(3, np.float32)), np.ones(3))
    B.mse_loss(np.zeros(3, np.float32), x, grad=np.zeros(3, dt))


# ---- 4. NaN and inf: inputs reject NaN, softmax and losses reject inf, all before the first write

@BACKENDS
def test_nan_and_inf_in_optimizer_state_and_nan_in_accumulated_gradients_are_rejected(B):
    p = np.array([np.nan, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"param .* contains NaN"):
        B.sgd_step(p, np.ones(3), lr=0.1)
    with pytest.raises(ValueError, match=r"momentum_buf .* contains inf"):
        B.sgd_step(np.zeros(3), np.ones(3), np.array([0, np.inf, 0]), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"grad .* contains inf .*\(training diverged"):
        B.rmsprop_step(np.zeros(3), np.array([0, -np.inf, 0]), np.ones(3))
    with pytest.raises(ValueError, match=r"exp_avg_sq .* contains NaN"):
        B.adam_step(np.zeros(3), np.ones(3), np.zeros(3), np.array([0, np.nan, 0]), step=1)
    x, w, dy = np.ones((2, 3)), np.ones((3, 4)), np.ones((2, 4))
    with pytest.raises(ValueError, match=r"dw .* contains NaN"):
        B.dense_backward(x, w, dy, dw=np.full((3, 4), np.nan), db=np.zeros(4), accumulate=True)


def _untouched_after_raise(call, *arrays):
    before = [a.copy() for a in arrays]
    with pytest.raises(ValueError):
        call()
    for a, b in zip(arrays, before):
        np.testing.assert_array_equal(a, b)


@BACKENDS
def test_no_write_before_a_raise(B):
    bad = np.array([1.0, np.nan, 2.0])
    p, buf, sq, m, v, ga = (np.full(3, 0.5) for _ in range(6))
    _untouched_after_raise(lambda: B.sgd_step(p, bad, lr=0.1), p)
    _untouched_after_raise(lambda: B.sgd_step(p, bad, buf, lr=0.1, momentum=0.9), p, buf)
    _untouched_after_raise(lambda: B.rmsprop_step(p, bad, sq, lr=0.1, centered=True, momentum=0.5,
                                                  momentum_buf=buf, grad_avg=ga), p, sq, buf, ga)
    _untouched_after_raise(lambda: B.adam_step(p, bad, m, v, step=3), p, m, v)
    out = np.full(3, 7.0)
    for name in ("sigmoid", "tanh", "relu"):
        _untouched_after_raise(lambda: getattr(B, name)(bad, out=out), out)
    for name in ("sigmoid_backward", "tanh_backward", "relu_backward"):
        _untouched_after_raise(lambda: getattr(B, name)(np.full(3, 0.5), bad, out=out), out)
    out2 = np.full((1, 3), 7.0)
    _untouched_after_raise(lambda: B.softmax(np.array([[1.0, np.inf, 0.0]]), out=out2), out2)
    _untouched_after_raise(lambda: B.mse_loss(np.ones(3), np.array([0, np.inf, 0]), grad=out), out)


@BACKENDS
@pytest.mark.parametrize("c", [0.0, 1e12, 1e16, -1e16, 1e300, -1e300, 1.7e308])
def test_softmax_cross_entropy_of_two_equal_logits_is_log2(B, c):
    loss, grad = B.softmax_cross_entropy(np.array([[c, c]]), np.array([0]))
    assert loss == pytest.approx(math.log(2), rel=1e-15)
    np.testing.assert_allclose(grad, [[-0.5, 0.5]], rtol=1e-15)
    loss, _ = B.softmax_cross_entropy(np.array([[c, c]]), np.array([[0.5, 0.5]]))
    assert loss == pytest.approx(math.log(2), rel=1e-15)
    if abs(c) < 3e38:
        loss, _ = B.softmax_cross_entropy(np.array([[c, c]], np.float32), np.array([1]))
        assert loss == pytest.approx(math.log(2), rel=1e-7)


@BACKENDS
def test_far_apart_logits_give_finite_or_limit_losses_not_nan(B):
    z = np.array([[1e308, -1e308, 0.0]])
    loss, grad = B.softmax_cross_entropy(z, np.array([[1.0, 0.0, 0.0]]))
    assert loss == 0.0 and np.isfinite(grad).all()
    loss, _ = B.softmax_cross_entropy(z, np.array([1]))
    assert loss == math.inf  # the true loss, 2e308, overflows


@BACKENDS
@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_inf_in_softmax_and_loss_inputs_is_a_value_error(B, bad):
    row = np.array([[0.5, bad, 0.25]])
    with pytest.raises(ValueError, match=r"softmax: x .* contains inf"):
        B.softmax(row)
    calls = {
        "mse_loss": lambda: B.mse_loss(row, np.zeros_like(row)),
        "bce_loss": lambda: B.bce_loss(row, np.zeros_like(row)),
        "bce_with_logits_loss": lambda: B.bce_with_logits_loss(row, np.zeros_like(row)),
        "softmax_cross_entropy": lambda: B.softmax_cross_entropy(row, np.array([0])),
        "multi_bce_loss": lambda: B.multi_bce_loss(row, np.array([0])),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=rf"{name}: .* contains inf"):
            call()
