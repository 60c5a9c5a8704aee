"""The C++ optimizer updates agree with the reference and with hand-computed PyTorch formulas."""
import numpy as np
import pytest

from pydl import kernels as K
from pydl import reference as R

from conftest import DTYPES

RTOL = {np.float32: 1e-5, np.float64: 1e-13}

CONFIGS = [
    ("sgd_step", dict(lr=0.1), 0),
    ("sgd_step", dict(lr=0.1, momentum=0.9), 1),
    ("sgd_step", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01), 1),
    ("sgd_step", dict(lr=0.05, momentum=0.8, nesterov=True), 1),
    ("rmsprop_step", dict(lr=0.01), 1),
    ("rmsprop_step", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1), 3),
    ("adam_step", dict(lr=0.01), 2),
    ("adam_step", dict(lr=1.0, betas=None, weight_decay=0.05), 2),
]


def _run(backend, name, kwargs, n_state, param, grads):
    kwargs = {k: v for k, v in kwargs.items() if k != "betas"}
    state = [np.zeros_like(param) for _ in range(n_state)]
    for step, grad in enumerate(grads, start=1):
        if name == "sgd_step":
            backend.sgd_step(param, grad, state[0] if state else None, first_step=step == 1, **kwargs)
        elif name == "rmsprop_step":
            extra = dict(momentum_buf=state[1], grad_avg=state[2]) if n_state == 3 else {}
            backend.rmsprop_step(param, grad, state[0], **extra, **kwargs)
        else:
            backend.adam_step(param, grad, state[0], state[1], step=step, **kwargs)
    return param


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (3, 7), (1000, 37)], ids=str)
@pytest.mark.parametrize("name,kwargs,n_state", CONFIGS)
def test_ten_steps_match_reference(name, kwargs, n_state, shape, dtype, rng, threads, simd_level):
    param = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(10)]
    ours = _run(K, name, kwargs, n_state, param.copy(), grads)
    ref = _run(R, name, kwargs, n_state, param.copy(), grads)
    # Rounding differs in the last bits per step and accumulates over ten steps of size up to lr.
    np.testing.assert_allclose(ours, ref, rtol=RTOL[dtype], atol=10 * RTOL[dtype] * np.abs(ref).max())


def test_sgd_momentum_matches_hand_computed_values():
    p, buf = np.array([1.0]), np.zeros(1)
    K.sgd_step(p, np.array([0.5]), buf, lr=0.1, momentum=0.9, first_step=True)  # buf = 0.5
    K.sgd_step(p, np.array([0.5]), buf, lr=0.1, momentum=0.9)  # buf = 0.9*0.5 + 0.5 = 0.95
    assert buf[0] == pytest.approx(0.95)
    assert p[0] == pytest.approx(1.0 - 0.1 * 0.5 - 0.1 * 0.95)


def test_adam_first_step_moves_each_weight_by_about_lr():
    p = np.array([1.0, -2.0])
    m, v = np.zeros(2), np.zeros(2)
    K.adam_step(p, np.array([3.0, -0.001]), m, v, step=1, lr=0.1)
    # Bias correction makes m_hat = g and v_hat = g^2 at step 1, so the step is lr * g/|g|.
    np.testing.assert_allclose(p, [0.9, -1.9], rtol=1e-6)


def _f32(x):
    """A Python float as the kernels hold a setting for float32 parameters: rounded to float32, then widened."""
    return float(np.float32(x))


# Normal state, and the state a long training leaves for weights whose gradients became tiny: v (and g^2)
# below float32's normal range. Per state: the gradients' scale, the first moment, the second moment.
STATES = {"normal": (1e-3, 1e-3, 1e-6), "subnormal": (1e-21, 1e-21, 1e-40)}


def _float32_problem(state, seed):
    """float32 parameters, gradients, first and second moments (the latter spread around the state's)."""
    r = np.random.default_rng(seed)
    g_scale, first, second = STATES[state]
    p = r.normal(size=300).astype(np.float32)
    g = (r.normal(size=300) * g_scale).astype(np.float32)
    return p, g, np.full(300, first, np.float32), (second * r.uniform(0.5, 1.5, 300)).astype(np.float32)


@pytest.mark.parametrize("state", STATES)
def test_float32_adam_is_float64_arithmetic_rounded_once(state, simd_level):
    p, g, m, v = _float32_problem(state, 5)
    step, lr, wd = 7, 1e-3, 0.01
    b1, b2, eps = _f32(0.9), _f32(0.999), _f32(1e-8)
    step_size, inv = _f32(lr / (1 - 0.9 ** step)), _f32(1 / np.sqrt(1 - 0.999 ** step))
    g64 = g.astype(np.float64) + _f32(wd) * p.astype(np.float64)
    m64 = b1 * m.astype(np.float64) + (1 - b1) * g64
    v64 = b2 * v.astype(np.float64) + (1 - b2) * g64 * g64
    p64 = p.astype(np.float64) - step_size * m64 / (np.sqrt(v64) * inv + eps)
    K.adam_step(p, g, m, v, step=step, lr=lr, weight_decay=wd)
    for ours, expected in ((m, m64), (v, v64), (p, p64)):
        np.testing.assert_array_equal(ours, expected.astype(np.float32))


@pytest.mark.parametrize("state", STATES)
def test_float32_rmsprop_is_float64_arithmetic_rounded_once(state, simd_level):
    p, g, avg, sq = _float32_problem(state, 6)
    sq *= 4  # the mean square stays twice the squared mean or more: the centered variance is positive
    buf = np.full(300, 0.5, np.float32)
    lr, alpha, eps, mu = 1e-3, _f32(0.99), _f32(1e-8), _f32(0.9)
    g64 = g.astype(np.float64)
    sq64 = alpha * sq.astype(np.float64) + (1 - alpha) * g64 * g64
    avg64 = alpha * avg.astype(np.float64) + (1 - alpha) * g64
    buf64 = mu * buf.astype(np.float64) + g64 / (np.sqrt(sq64 - avg64 * avg64) + eps)
    p64 = p.astype(np.float64) - _f32(lr) * buf64
    K.rmsprop_step(p, g, sq, lr=lr, centered=True, momentum=0.9, momentum_buf=buf, grad_avg=avg)
    for ours, expected in ((sq, sq64), (avg, avg64), (buf, buf64), (p, p64)):
        np.testing.assert_array_equal(ours, expected.astype(np.float32))


def test_rmsprop_matches_hand_computed_value():
    p, sq = np.array([1.0]), np.zeros(1)
    K.rmsprop_step(p, np.array([2.0]), sq, lr=0.01, alpha=0.99)
    assert sq[0] == pytest.approx(0.01 * 4)
    assert p[0] == pytest.approx(1.0 - 0.01 * 2.0 / (np.sqrt(0.04) + 1e-8))


@pytest.mark.parametrize("dtype", DTYPES)
def test_optimizers_match_torch_over_ten_steps(dtype, rng):
    torch = pytest.importorskip("torch")
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    cases = [
        (torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01), "sgd"),
        (torch.optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True), "rmsprop"),
        (torch.optim.Adam, dict(lr=0.05, weight_decay=0.01), "adam"),
    ]
    for opt_cls, kwargs, kind in cases:
        param = rng.standard_normal((4, 3)).astype(dtype)
        grads = [rng.standard_normal((4, 3)).astype(dtype) for _ in range(10)]
        tp = torch.tensor(param.copy(), dtype=tdtype, requires_grad=True)
        opt = opt_cls([tp], **kwargs)
        for g in grads:
            tp.grad = torch.tensor(g)
            opt.step()
        ours = param.copy()
        state = [np.zeros_like(ours) for _ in range(3)]
        for step, g in enumerate(grads, start=1):
            if kind == "sgd":
                K.sgd_step(ours, g, state[0], first_step=step == 1, **kwargs)
            elif kind == "rmsprop":
                K.rmsprop_step(ours, g, state[0], momentum_buf=state[1], grad_avg=state[2], **kwargs)
            else:
                K.adam_step(ours, g, state[0], state[1], step=step, **kwargs)
        np.testing.assert_allclose(ours, tp.detach().numpy(), rtol=1e-5 if dtype == np.float32 else 1e-6,
                                   atol=1e-6)
