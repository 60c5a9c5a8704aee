"""CUDA batch normalization on the simulator equals its NumPy twin (statistics in double, a fixed
reduction order: the same bits in every thread order)."""
import numpy as np
import pytest

from pydl import reference

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 2e-6, np.float64: 1e-12}
# (N, C): tiles of 32 channels by 8 rows, partial ones and more tiles than the simulator's 8 blocks;
# (N, C, ...): channel sizes below, at and past the 256 threads of a channel's block, more channels than blocks.
SHAPES = [(2, 1), (5, 3), (300, 4), (70, 45), (3, 300), (3, 2, 5), (4, 3, 7, 11), (2, 11, 130)]


def _inputs(rng, shape, dtype):
    c = shape[1]
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    running_mean, running_var = rng.standard_normal(c).astype(dtype), rng.random(c).astype(dtype) + 0.5
    return x, gamma, beta, running_mean, running_var


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_forward_inference_and_backward_match_the_twin(sim, rng, shape, dtype):
    x, gamma, beta, rm, rv = _inputs(rng, shape, dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    d_rm, d_rv = sim.from_numpy(rm), sim.from_numpy(rv)
    out, mean, invstd = sim.batch_norm_forward(sim.from_numpy(x), sim.from_numpy(gamma), sim.from_numpy(beta), d_rm,
                                               d_rv, momentum=0.2, eps=1e-3)
    e_out, e_mean, e_invstd = reference.batch_norm_forward(x, gamma, beta, rm, rv, momentum=0.2, eps=1e-3)
    for got, expected in [(out, e_out), (mean, e_mean), (invstd, e_invstd), (d_rm, rm), (d_rv, rv)]:
        np.testing.assert_allclose(got.to_numpy(), expected, rtol=RTOL[dtype], atol=RTOL[dtype])
    inferred = sim.batch_norm_inference(sim.from_numpy(x), sim.from_numpy(gamma), sim.from_numpy(beta), d_rm, d_rv)
    np.testing.assert_allclose(inferred.to_numpy(), reference.batch_norm_inference(x, gamma, beta, rm, rv),
                               rtol=RTOL[dtype], atol=RTOL[dtype])
    # Backward from the twin's saved statistics, so only the backward kernel is compared.
    grads = sim.batch_norm_backward(sim.from_numpy(x), sim.from_numpy(gamma), sim.from_numpy(dy),
                                    sim.from_numpy(e_mean), sim.from_numpy(e_invstd))
    expected = reference.batch_norm_backward(x, gamma, dy, e_mean, e_invstd)
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(got.to_numpy(), want, rtol=RTOL[dtype] * 10, atol=RTOL[dtype] * 10)


@pytest.mark.parametrize("shape", [(7, 5, 300), (300, 40)], ids=str)
def test_statistics_have_the_same_bits_in_every_thread_order(sim_forward, rng, shape):
    s = sim_forward
    x, gamma, beta, rm, rv = _inputs(rng, shape, np.float64)
    dy = rng.standard_normal(x.shape)
    runs = []
    for order in ("forward", "reverse", "shuffle"):
        s.set_thread_order(order, 11)
        fwd = s.batch_norm_forward(s.from_numpy(x), s.from_numpy(gamma), s.from_numpy(beta), s.from_numpy(rm),
                                   s.from_numpy(rv))
        bwd = s.batch_norm_backward(s.from_numpy(x), s.from_numpy(gamma), s.from_numpy(dy), fwd[1], fwd[2])
        runs.append([a.to_numpy() for a in (*fwd, *bwd)])
    s.set_thread_order("forward", 0)
    for run in runs[1:]:
        for got, first in zip(run, runs[0]):
            np.testing.assert_array_equal(got, first)


def test_outputs_given_are_written_in_place_and_need_dx_false_skips_dx(sim_forward, rng):
    s = sim_forward
    x, gamma, beta, rm, rv = _inputs(rng, (4, 3, 2), np.float64)
    d = s.from_numpy(x)
    mean, invstd = s.empty((3,), np.float64), s.empty((3,), np.float64)
    out, m, i = s.batch_norm_forward(d, s.from_numpy(gamma), s.from_numpy(beta), s.from_numpy(rm), s.from_numpy(rv),
                                     out=d, mean=mean, invstd=invstd)
    assert out is d and m is mean and i is invstd
    np.testing.assert_allclose(d.to_numpy(), reference.batch_norm_forward(x, gamma, beta, rm, rv)[0], rtol=1e-12)
    dy = s.from_numpy(rng.standard_normal(x.shape))
    dx, dgamma, dbeta = s.batch_norm_backward(s.from_numpy(x), s.from_numpy(gamma), dy, mean, invstd, dx=dy)
    assert dx is dy
    none, dgamma2, _ = s.batch_norm_backward(s.from_numpy(x), s.from_numpy(gamma), s.from_numpy(x), mean, invstd,
                                             need_dx=False)
    assert none is None and dgamma2.shape == (3,)


def test_refuses_bad_arguments_as_the_twin(sim_forward):
    s = sim_forward
    x, c = s.from_numpy(np.ones((4, 3))), s.from_numpy(np.ones(3))
    with pytest.raises(TypeError, match="batch_norm_forward: x must be a cuda-sim DeviceArray"):
        s.batch_norm_forward(np.ones((4, 3)), c, c, s.copy(c), s.copy(c))
    with pytest.raises(TypeError, match="batch_norm_forward: running_mean must be a cuda-sim DeviceArray"):
        s.batch_norm_forward(x, c, c, None, s.copy(c))
    with pytest.raises(ValueError, match=r"batch_norm_forward: x must have shape \(N, C, ...\)"):
        s.batch_norm_forward(s.from_numpy(np.ones(3)), c, c, s.copy(c), s.copy(c))
    with pytest.raises(ValueError, match=r"gamma must have shape \(3,\), got \(2,\)"):
        s.batch_norm_forward(x, s.from_numpy(np.ones(2)), c, s.copy(c), s.copy(c))
    with pytest.raises(TypeError, match="running_var must have dtype float64, got float32"):
        s.batch_norm_forward(x, c, c, s.copy(c), s.from_numpy(np.ones(3, np.float32)))
    with pytest.raises(ValueError, match=r"momentum must lie in \[0, 1\], got 1.5"):
        s.batch_norm_forward(x, c, c, s.copy(c), s.copy(c), momentum=1.5)
    with pytest.raises(ValueError, match="eps must be > 0, got 0.0"):
        s.batch_norm_inference(x, c, c, c, c, eps=0.0)
    with pytest.raises(ValueError, match="training needs more than 1 value per channel"):
        s.batch_norm_forward(s.from_numpy(np.ones((1, 3))), c, c, s.copy(c), s.copy(c))
    with pytest.raises(ValueError, match="running_mean shares memory with running_var"):
        rm = s.copy(c)
        s.batch_norm_forward(x, c, c, rm, rm)
    with pytest.raises(ValueError, match="batch_norm_backward: dy with shape .* contains NaN"):
        s.batch_norm_backward(x, c, s.from_numpy(np.full((4, 3), np.nan)), c, c)
    with pytest.raises(TypeError, match="need_dx must be True or False"):
        s.batch_norm_backward(x, c, x, c, c, need_dx=1)
