"""Optimizers and learning-rate schedules: PyTorch formulas, per-parameter state, binding styles."""
import numpy as np
import pytest

import pydl
from pydl import nn, optim
from pydl.nn import Parameter

BACKENDS = ["cpp", "numpy"]


def make_param(values, grad):
    p = Parameter("w", np.array(values, dtype=np.float64), regularizable=True)
    p.grad[...] = grad
    return p


@pytest.mark.parametrize("backend", BACKENDS)
def test_sgd_plain_step_is_p_minus_lr_g(backend):
    p = make_param([1.0, -2.0], [0.5, 1.0])
    optim.SGD([p], lr=0.1, backend=backend).step()
    np.testing.assert_allclose(p.data, [1.0 - 0.05, -2.0 - 0.1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_sgd_momentum_buffer_starts_at_the_first_gradient(backend):
    p = make_param([1.0], [1.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9, backend=backend)
    opt.step()  # buf = 1, p = 1 - 0.1
    opt.step()  # buf = 0.9 + 1 = 1.9, p = 0.9 - 0.19
    np.testing.assert_allclose(p.data, [0.71])
    np.testing.assert_allclose(opt.state_of(p)["momentum_buffer"], [1.9])


@pytest.mark.parametrize("backend", BACKENDS)
def test_sgd_nesterov_and_weight_decay(backend):
    p = make_param([2.0], [1.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.1, backend=backend)
    opt.step()  # g = 1 + 0.2 = 1.2, buf = 1.2, d = 1.2 + 0.6 = 1.8
    np.testing.assert_allclose(p.data, [2.0 - 0.18])


@pytest.mark.parametrize("backend", BACKENDS)
def test_rmsprop_two_steps(backend):
    p = make_param([1.0], [2.0])
    opt = optim.RMSprop([p], lr=0.01, alpha=0.9, eps=1e-8, backend=backend)
    opt.step()
    v1 = 0.1 * 4.0
    expected = 1.0 - 0.01 * 2.0 / (np.sqrt(v1) + 1e-8)
    opt.step()
    v2 = 0.9 * v1 + 0.1 * 4.0
    expected -= 0.01 * 2.0 / (np.sqrt(v2) + 1e-8)
    np.testing.assert_allclose(p.data, [expected], rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rmsprop_centered_with_momentum(backend):
    p = make_param([1.0], [2.0])
    optim.RMSprop([p], lr=0.01, alpha=0.9, momentum=0.5, centered=True, backend=backend).step()
    avg = np.sqrt(0.1 * 4.0 - (0.1 * 2.0) ** 2) + 1e-8
    np.testing.assert_allclose(p.data, [1.0 - 0.01 * 2.0 / avg], rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_adam_two_steps_with_bias_correction(backend):
    p = make_param([1.0], [0.5])
    opt = optim.Adam([p], lr=0.1, backend=backend)
    expected, m, v = 1.0, 0.0, 0.0
    for t in (1, 2):
        m = 0.9 * m + 0.1 * 0.5
        v = 0.999 * v + 0.001 * 0.25
        expected -= 0.1 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        opt.step()
    np.testing.assert_allclose(p.data, [expected], rtol=1e-10)
    assert opt.steps == 2


def test_pytorch_defaults():
    assert optim.SGD().lr == 0.001
    rms = optim.RMSprop()
    assert (rms.lr, rms.alpha, rms.eps, rms.momentum, rms.centered) == (0.01, 0.99, 1e-8, 0.0, False)
    adam = optim.Adam()
    assert (adam.lr, adam.betas, adam.eps, adam.weight_decay) == (0.001, (0.9, 0.999), 1e-8, 0.0)


def test_state_is_kept_per_parameter():
    a, b = make_param([1.0], [1.0]), make_param([1.0, 2.0], [3.0, 4.0])
    opt = optim.Adam([a, b])
    opt.step()
    np.testing.assert_allclose(opt.state_of(a)["exp_avg"], [0.1])
    np.testing.assert_allclose(opt.state_of(b)["exp_avg"], [0.3, 0.4])


def test_zero_grad_clears_gradients():
    p = make_param([1.0], [5.0])
    optim.SGD([p], lr=0.1).zero_grad()
    assert p.grad[0] == 0


def test_keras_style_optimizer_is_bound_by_the_network():
    net = pydl.Network([nn.Dense(2, 1)], loss="mse", optimizer=optim.SGD(lr=0.1))
    assert net.optimizer.params == net.parameters()


def test_pytorch_style_optimizer_on_net_parameters():
    net = pydl.Network([nn.Dense(2, 1)], loss="mse")
    opt = optim.Adam(net.parameters(), lr=0.01)
    net.compile(optimizer=opt)
    assert net.optimizer is opt


def test_optimizer_of_another_network_is_rejected():
    other = pydl.Network([nn.Dense(2, 1)])
    with pytest.raises(ValueError, match="parameters of another network"):
        pydl.Network([nn.Dense(2, 1)], loss="mse", optimizer=optim.SGD(other.parameters(), lr=0.1))


def test_learning_rate_given_positionally_is_a_clear_type_error():
    with pytest.raises(TypeError, match=r"SGD\(lr=0.1\)"):
        optim.SGD(0.1)


def test_step_without_parameters_is_a_clear_error():
    with pytest.raises(RuntimeError, match="no parameters"):
        optim.SGD(lr=0.1).step()


def test_step_decay_multiplies_by_gamma_every_step_size_epochs():
    opt = optim.SGD(lr=1.0)
    sched = optim.StepDecay(opt, gamma=0.5, step_size=2)
    lrs = []
    for _ in range(5):
        sched.step()
        lrs.append(opt.lr)
    assert lrs == [1.0, 0.5, 0.5, 0.25, 0.25]


def test_exponential_decay_is_continuous():
    opt = optim.SGD(lr=1.0)
    sched = optim.ExponentialDecay(opt, decay_rate=0.5, decay_steps=2)
    sched.step()
    assert opt.lr == pytest.approx(0.5 ** 0.5)


def test_cyclic_lr_is_triangular():
    opt = optim.SGD(lr=1.0)
    sched = optim.CyclicLR(opt, base_lr=0.1, max_lr=0.5, step_size_up=2)
    lrs = [opt.lr]
    for _ in range(6):
        sched.step()
        lrs.append(opt.lr)
    np.testing.assert_allclose(lrs, [0.1, 0.3, 0.5, 0.3, 0.1, 0.3, 0.5])


def _torch_run(torch, name, kwargs, w0, grads):
    w = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    opt = getattr(torch.optim, name)([w], **kwargs)
    for g in grads:
        w.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    return w.detach().numpy()


TORCH_CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.01}),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,kwargs", TORCH_CASES)
def test_matches_torch_over_ten_steps(name, kwargs, backend):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(5)
    grads = rng.standard_normal((10, 5))
    p = make_param(w0, 0.0)
    opt = getattr(optim, name)([p], backend=backend, **kwargs)
    for g in grads:
        p.grad[...] = g
        opt.step()
    np.testing.assert_allclose(p.data, _torch_run(torch, name, kwargs, w0, grads), rtol=1e-6, atol=1e-6)
