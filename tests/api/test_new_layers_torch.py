"""Issue 13's layers and AdamW against PyTorch in float64 (to 1e-10); skipped without torch."""
import numpy as np
import pytest

import pydl
from pydl import nn, optim

torch = pytest.importorskip("torch")

TOL = dict(rtol=0, atol=1e-10)


def _t(a):
    return torch.from_numpy(np.array(a, dtype=np.float64))


@pytest.mark.parametrize("ours, theirs, shape", [
    (lambda: nn.BatchNorm1d(5, momentum=0.2), lambda: torch.nn.BatchNorm1d(5, momentum=0.2), (8, 5)),
    (lambda: nn.BatchNorm1d(3), lambda: torch.nn.BatchNorm1d(3), (4, 3, 6)),
    (lambda: nn.BatchNorm2d(3, eps=1e-3), lambda: torch.nn.BatchNorm2d(3, eps=1e-3), (4, 3, 5, 5)),
], ids=["1d", "1d (N, C, L)", "2d"])
def test_batch_norm_matches_torch_over_ten_training_steps_then_in_eval(ours, theirs, shape):
    layer, ref = ours().set_dtype("float64"), theirs().double()
    p = layer.params
    rng = np.random.default_rng(0)
    for step in range(10):
        x, dy = rng.normal(2.0, 3.0, size=shape), rng.normal(size=shape)
        y = layer.forward(x)
        dx = layer.backward(dy)
        xt = _t(x).requires_grad_()
        yt = ref(xt)
        yt.backward(_t(dy))
        np.testing.assert_allclose(y, yt.detach().numpy(), **TOL)
        np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL)
        np.testing.assert_allclose(layer.grads["gamma"], ref.weight.grad.numpy(), **TOL)
        np.testing.assert_allclose(layer.grads["beta"], ref.bias.grad.numpy(), **TOL)
        np.testing.assert_allclose(layer.buffers["running_mean"], ref.running_mean.numpy(), **TOL)
        np.testing.assert_allclose(layer.buffers["running_var"], ref.running_var.numpy(), **TOL)
        # The same SGD step on both, so the affine parameters move too.
        p["gamma"] -= 0.1 * layer.grads["gamma"]
        p["beta"] -= 0.1 * layer.grads["beta"]
        with torch.no_grad():
            ref.weight -= 0.1 * ref.weight.grad
            ref.bias -= 0.1 * ref.bias.grad
        ref.zero_grad()
    layer.eval()
    ref.eval()
    x = rng.normal(2.0, 3.0, size=shape)
    with torch.no_grad():
        np.testing.assert_allclose(layer.forward(x), ref(_t(x)).numpy(), **TOL)


def test_dropout_matches_torch_with_the_same_mask():
    layer = nn.Dropout(0.3, dtype="float64")
    layer._seed = 42
    x, dy = np.random.default_rng(0).normal(size=(60, 70)), np.random.default_rng(1).normal(size=(60, 70))
    y = layer.forward(x)
    dx = layer.backward(dy)
    keep = _t(pydl.kernels.dropout_forward(x, 0.3, 42)[1] != 0)
    xt = _t(x).requires_grad_()
    yt = xt * keep / (1 - 0.3)  # torch's dropout: input * bernoulli(1 - p) / (1 - p)
    yt.backward(_t(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL)
    assert 0.27 < 1 - keep.double().mean().item() < 0.33


def test_leaky_relu_matches_torch():
    x = np.random.default_rng(0).normal(size=(5, 6))
    x[0, :2] = 0.0
    dy = np.random.default_rng(1).normal(size=(5, 6))
    layer = nn.LeakyReLU(0.2, dtype="float64")
    y, dx = layer.forward(x), layer.backward(dy)
    xt = _t(x).requires_grad_()
    yt = torch.nn.functional.leaky_relu(xt, 0.2)
    yt.backward(_t(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL)


@pytest.mark.parametrize("settings", [{}, {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.3}],
                         ids=["defaults", "custom"])
def test_adamw_matches_torch_over_twenty_steps(settings):
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(4, 3))
    p = nn.Parameter("w", w0.copy(), regularizable=True)
    ours = optim.AdamW([p], **settings)
    wt = _t(w0).requires_grad_()
    theirs = torch.optim.AdamW([wt], **settings)
    for _ in range(20):
        g = rng.normal(size=w0.shape)
        p.grad[...] = g
        wt.grad = _t(g)
        ours.step()
        theirs.step()
    np.testing.assert_allclose(p.data, wt.detach().numpy(), **TOL)
    np.testing.assert_allclose(ours.state_of(p)["exp_avg"], theirs.state[wt]["exp_avg"].numpy(), **TOL)
