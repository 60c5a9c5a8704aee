"""CUDA optimizer updates on the simulator equal their NumPy twins over several steps, and refuse bad input with
the reference's exception and message before writing anything."""
import numpy as np
import pytest

from pydl import reference as R

RTOL = {np.float32: 1e-5, np.float64: 1e-13}
# (kernel, settings, number of state arrays): every keyword of the twins.
CONFIGS = [
    ("sgd_step", dict(lr=0.1), 0),
    ("sgd_step", dict(lr=0.1, momentum=0.9), 1),
    ("sgd_step", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01), 1),
    ("sgd_step", dict(lr=0.05, momentum=0.8, nesterov=True), 1),
    ("rmsprop_step", dict(lr=0.01), 1),
    ("rmsprop_step", dict(lr=0.01, alpha=0.9, eps=1e-6, momentum=0.5, centered=True, weight_decay=0.1), 3),
    ("adam_step", dict(lr=0.01), 2),
    ("adam_step", dict(lr=0.5, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.05, decoupled_weight_decay=0.1), 2),
]
SHAPES = [(1,), (3, 7), (50, 45)]  # 2250 elements: past the simulator's grid cap of 8 blocks of 256
STEPS = 4  # the first step (SGD's buf = g, Adam's bias correction) and later ones


def _run(module, to_dev, to_host, name, kwargs, n_state, param, grads):
    param = to_dev(param)
    state = [to_dev(np.zeros(param.shape, grads[0].dtype)) for _ in range(n_state)]
    for step, grad in enumerate(grads, start=1):
        grad = to_dev(grad)
        if name == "sgd_step":
            module.sgd_step(param, grad, state[0] if state else None, first_step=step == 1, **kwargs)
        elif name == "rmsprop_step":
            extra = dict(momentum_buf=state[1], grad_avg=state[2]) if n_state == 3 else {}
            module.rmsprop_step(param, grad, state[0], **extra, **kwargs)
        else:
            module.adam_step(param, grad, state[0], state[1], step=step, **kwargs)
    return to_host(param), [to_host(a) for a in state]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name,kwargs,n_state", CONFIGS)
def test_steps_equal_the_twin(sim, name, kwargs, n_state, shape, dtype, rng):
    param = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(STEPS)]
    ours = _run(sim, sim.from_numpy, lambda a: a.to_numpy(), name, kwargs, n_state, param, grads)
    ref = _run(R, np.copy, np.copy, name, kwargs, n_state, param, grads)
    # Rounding differs in the last bits per step and accumulates over the steps of size up to lr.
    for a, b in zip([ours[0], *ours[1]], [ref[0], *ref[1]]):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=RTOL[dtype], atol=10 * RTOL[dtype] * np.abs(b).max())


def _bad_cases(rng):
    """(kernel, param, grad, state arrays, keywords): each fails a check of the reference."""
    p, g, z = rng.standard_normal(5), rng.standard_normal(5), np.zeros(5)
    nan_g, inf_s = g.copy(), z.copy()
    nan_g[3], inf_s[1] = np.nan, np.inf
    return [
        ("sgd_step", p, nan_g, [], dict(lr=0.1)),
        ("sgd_step", p, g, [z], dict(lr=-0.1, momentum=0.9)),
        ("sgd_step", p, g, [], dict(lr=0.1, momentum=0.9)),
        ("sgd_step", p, g, [z], dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)),
        ("sgd_step", p, g, [z], dict(lr=0.1, momentum=-1.0)),
        ("sgd_step", p, g, [inf_s], dict(lr=0.1, momentum=0.9)),
        ("sgd_step", p, g[:4], [], dict(lr=0.1)),
        ("sgd_step", p, g.astype(np.float32), [], dict(lr=0.1)),
        ("sgd_step", p.astype(np.float32), g.astype(np.float32), [], dict(lr=1e39)),
        ("sgd_step", p, g, [], dict(lr=0.1, nesterov=1)),
        ("rmsprop_step", p, g, [z], dict(alpha=1.5)),
        ("rmsprop_step", p, g, [z], dict(eps=-1.0)),
        ("rmsprop_step", p, g, [z], dict(centered=True)),
        ("rmsprop_step", p, g, [inf_s], dict()),
        ("rmsprop_step", p, g, [z], dict(weight_decay=-0.1)),
        ("adam_step", p, g, [z, z.copy()], dict(step=0)),
        ("adam_step", p, g, [z, z.copy()], dict(step=1, beta1=1.0)),
        ("adam_step", p, g, [z, z.copy()], dict(step=1, beta2=-0.1)),
        ("adam_step", p, g, [z, z.copy()], dict(step=1, decoupled_weight_decay=-1.0)),
        ("adam_step", p, nan_g, [z, z.copy()], dict(step=1)),
        ("adam_step", p, g, [z, inf_s], dict(step=1)),
        ("adam_step", p, g, [z, z.copy()], dict(step=1.5)),
    ]


def _call(module, name, param, grad, state, kwargs):
    if name == "adam_step":
        return module.adam_step(param, grad, *state, **kwargs)
    if name == "rmsprop_step":
        return module.rmsprop_step(param, grad, state[0], **kwargs)
    return module.sgd_step(param, grad, state[0] if state else None, **kwargs)


def test_bad_input_fails_as_in_the_reference_before_any_write(sim_forward, rng):
    s = sim_forward
    for name, param, grad, state, kwargs in _bad_cases(rng):
        with pytest.raises((TypeError, ValueError)) as ref:
            _call(R, name, param.copy(), grad, [a.copy() for a in state], kwargs)
        d_param, d_state = s.from_numpy(param), [s.from_numpy(a) for a in state]
        with pytest.raises(ref.type) as ours:
            _call(s, name, d_param, s.from_numpy(grad), d_state, kwargs)
        assert str(ours.value) == str(ref.value), name
        np.testing.assert_array_equal(d_param.to_numpy(), param)
        for d, a in zip(d_state, state):
            np.testing.assert_array_equal(d.to_numpy(), a)


def test_host_arrays_shared_memory_and_wrong_state_are_refused(sim_forward):
    s = sim_forward
    p, g = s.from_numpy(np.ones(4)), s.from_numpy(np.ones(4))
    with pytest.raises(TypeError, match="sgd_step: param must be a cuda-sim DeviceArray"):
        s.sgd_step(np.ones(4), g, lr=0.1)
    with pytest.raises(TypeError, match="adam_step: exp_avg must be a cuda-sim DeviceArray"):
        s.adam_step(p, g, np.zeros(4), s.zeros(4, np.float64), step=1)
    with pytest.raises(TypeError, match="square_avg must have dtype float64, got float32"):
        s.rmsprop_step(p, g, s.zeros(4, np.float32))
    with pytest.raises(ValueError, match="momentum_buf shares memory with param"):
        s.sgd_step(p, g, p, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="grad shares memory with param"):
        s.sgd_step(p, p, lr=0.1)
