"""CUDA loss kernels on the simulator equal their NumPy twins, give the same bits in every thread order, and
refuse bad input with the reference's exception and message before writing anything."""
import numpy as np
import pytest

from pydl import reference as R
from conftest import loss_rel

RTOL = {np.float32: 1e-5, np.float64: 1e-12}
# Around the block size (256) and, at 2100 rows, past the simulator's grid cap of 8 blocks (stride loops).
SHAPES = [(1, 1), (7, 3), (97, 13), (2100, 3)]
LOSSES = ["mse_loss", "bce_loss", "bce_with_logits_loss", "softmax_cross_entropy", "multi_bce_loss"]
CASES = [(name, "labels" if name in ("softmax_cross_entropy", "multi_bce_loss") else "rows") for name in LOSSES]
CASES += [("softmax_cross_entropy", "rows"), ("multi_bce_loss", "rows")]


def _case(name, target_kind, shape, dtype, rng):
    """Input and target of a loss: integer labels, or float rows (probabilities for softmax)."""
    z = (rng.standard_normal(shape) * 4).astype(dtype)
    if target_kind == "labels":
        return z, rng.integers(0, shape[1], shape[0])
    if name == "mse_loss":
        return z, rng.standard_normal(shape).astype(dtype)
    if name == "bce_loss":
        return R.sigmoid(z), (rng.random(shape) > 0.5).astype(dtype)
    if name == "softmax_cross_entropy":
        p = rng.random(shape)
        return z, (p / p.sum(axis=1, keepdims=True)).astype(dtype)
    return z, (rng.random(shape) > 0.5).astype(dtype)


def _on_device(sim, name, x, target, **kwargs):
    loss, grad = getattr(sim, name)(sim.from_numpy(x), sim.from_numpy(target), **kwargs)
    return loss, grad.to_numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name,target_kind", CASES)
def test_loss_and_gradient_equal_the_twin(sim, name, target_kind, shape, dtype, rng):
    x, target = _case(name, target_kind, shape, dtype, rng)
    loss, grad = _on_device(sim, name, x, target)
    ref_loss, ref_grad = getattr(R, name)(x, target)
    assert isinstance(loss, float)
    assert loss == pytest.approx(ref_loss, rel=loss_rel(name, dtype))
    assert grad.dtype == dtype and grad.shape == x.shape
    # Gradient entries are differences like p - 1 scaled by 1/n: their error is absolute, a few eps of the largest.
    np.testing.assert_allclose(grad, ref_grad, rtol=RTOL[dtype], atol=8 * np.finfo(dtype).eps * np.abs(ref_grad).max())


@pytest.mark.parametrize("name,target_kind", CASES)
def test_same_bits_in_every_thread_order(sim_forward, name, target_kind, rng):
    """The loss is summed in per-block partials and one block over them, both in a fixed tree order."""
    x, target = _case(name, target_kind, (2100, 3), np.float64, rng)
    results = []
    try:
        for order, seed in [("forward", 0), ("reverse", 0), ("shuffle", 1), ("shuffle", 2)]:
            sim_forward.set_thread_order(order, seed)
            loss, grad = _on_device(sim_forward, name, x, target)
            results.append((loss, grad.tobytes()))
    finally:
        sim_forward.set_thread_order("forward", 0)
    assert all(r == results[0] for r in results[1:])


def test_grad_is_written_into_the_given_array(sim_forward, rng):
    s = sim_forward
    x, labels = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    grad = s.empty((5, 4), np.float64)
    loss, returned = s.softmax_cross_entropy(s.from_numpy(x), s.from_numpy(labels), grad=grad)
    assert returned is grad
    np.testing.assert_allclose(grad.to_numpy(), R.softmax_cross_entropy(x, labels)[1], rtol=1e-12, atol=1e-17)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_inputs_stay_finite_and_match_the_twin(sim_forward, dtype):
    s = sim_forward
    # bce clips exact 0 and 1 to [eps, 1 - eps]; the logit losses never overflow.
    prob, t = np.array([[0.0, 1.0, 1e-30, 0.5]], dtype), np.array([[1.0, 0.0, 0.0, 1.0]], dtype)
    z, t_z = np.array([[1e4, -1e4, 1e3, -1e2]], dtype), np.array([[0.0, 1.0, 1.0, 0.0]], dtype)
    huge = np.array([[1e4, -1e4, 0.0], [-1e3, 1e3, 1e2]], dtype)
    cases = [("bce_loss", prob, t), ("bce_with_logits_loss", z, t_z), ("softmax_cross_entropy", huge, np.array([1, 0])),
             ("multi_bce_loss", huge, np.array([1, 0]))]
    for name, x, target in cases:
        loss, grad = _on_device(s, name, x, target)
        ref_loss, ref_grad = getattr(R, name)(x, target)
        assert np.isfinite(loss) and np.isfinite(grad).all()
        assert loss == pytest.approx(ref_loss, rel=loss_rel(name, dtype))
        np.testing.assert_allclose(grad, ref_grad, rtol=RTOL[dtype])


def _bad_cases(rng):
    """(loss, x, target, kwargs): each fails a check of the reference."""
    x, p, t = rng.standard_normal((4, 3)), rng.random((4, 3)), (rng.random((4, 3)) > 0.5).astype(float)
    nan_x, inf_t, big_t = x.copy(), t.copy(), t.copy()
    nan_x[2, 1], inf_t[0, 0], big_t[3, 2] = np.nan, -np.inf, 1.5
    return [
        ("mse_loss", nan_x, t, {}), ("mse_loss", x, inf_t, {}), ("mse_loss", x, t[:3], {}),
        ("mse_loss", x, t.astype(np.float32), {}), ("bce_loss", p, big_t, {}), ("bce_loss", p, t - 0.25, {}),
        ("bce_loss", p, t, {"eps": 0.5}), ("bce_loss", p, t, {"eps": True}), ("bce_with_logits_loss", x, big_t, {}),
        ("softmax_cross_entropy", x, np.array([0, 1, 3, 2]), {}),
        ("softmax_cross_entropy", x, np.array([0, -1, 0, 2]), {}), ("softmax_cross_entropy", x, np.array([0, 1, 2]), {}),
        ("softmax_cross_entropy", x, np.zeros((4, 1), np.int64), {}),
        ("softmax_cross_entropy", nan_x, np.array([0, 1, 2, 2]), {}), ("softmax_cross_entropy", x, big_t, {}),
        ("softmax_cross_entropy", x[0], np.array([0]), {}), ("multi_bce_loss", x, np.array([0, 1, 2, 7]), {}),
        ("multi_bce_loss", x, inf_t, {}), ("multi_bce_loss", nan_x, np.array([0, 1, 2, 2]), {}),
        ("mse_loss", np.ones((0, 3)), np.ones((0, 3)), {}),
    ]


def test_bad_input_fails_as_in_the_reference_before_any_write(sim_forward, rng):
    s = sim_forward
    for name, x, target, kwargs in _bad_cases(rng):
        with pytest.raises((TypeError, ValueError)) as ref:
            getattr(R, name)(x, target, **kwargs)
        grad = s.from_numpy(np.full(x.shape, 7.0))
        with pytest.raises(ref.type) as ours:
            getattr(s, name)(s.from_numpy(x), s.from_numpy(target), grad=grad, **kwargs)
        assert str(ours.value) == str(ref.value), name
        assert (grad.to_numpy() == 7.0).all()


def test_host_arrays_and_wrong_outputs_are_refused(sim_forward, rng):
    s = sim_forward
    x, labels = s.from_numpy(rng.standard_normal((4, 3))), s.from_numpy(np.array([0, 1, 2, 0]))
    with pytest.raises(TypeError, match="mse_loss: pred must be a cuda-sim DeviceArray"):
        s.mse_loss(np.ones(3), s.from_numpy(np.ones(3)))
    with pytest.raises(TypeError, match="softmax_cross_entropy: target must be a cuda-sim DeviceArray"):
        s.softmax_cross_entropy(x, np.array([0, 1, 2, 0]))
    with pytest.raises(TypeError, match="grad must be a cuda-sim DeviceArray"):
        s.softmax_cross_entropy(x, labels, grad=np.zeros((4, 3)))
    with pytest.raises(TypeError, match="grad must have dtype float64, got float32"):
        s.multi_bce_loss(x, labels, grad=s.empty((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"grad must have shape \(4, 3\), got \(3, 4\)"):
        s.bce_with_logits_loss(x, s.copy(x), grad=s.empty((3, 4), np.float64))
    with pytest.raises(ValueError, match="grad shares memory with logits"):
        s.softmax_cross_entropy(x, labels, grad=x)
