"""matmul on the simulator: pydl's tiled GEMM (128 x 128 tiles) against the NumPy twin, for every transpose,
alpha and beta, and sizes around the tile edges."""
import numpy as np
import pytest

from pydl import reference as R

from cuda_twin import close, raises_like_the_twin

# (M, N, K): ones, sizes below, at and past the 128 x 128 tile and its K slice of 16, a thin row and column.
SHAPES = [(1, 1, 1), (3, 5, 7), (128, 128, 16), (129, 130, 17), (200, 3, 40), (1, 257, 33), (257, 1, 5)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_equals_the_twin_for_every_transpose(sim, rng, dtype, m, n, k, trans_a, trans_b):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    got = sim.matmul(sim.from_numpy(a), sim.from_numpy(b), trans_a=trans_a, trans_b=trans_b)
    close(got, R.matmul(a, b, trans_a=trans_a, trans_b=trans_b))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,n,k", [(3, 5, 7), (129, 130, 17)])
def test_alpha_and_beta_scale_the_product_and_add_to_out(sim, rng, dtype, m, n, k):
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    out = sim.from_numpy(c)
    assert sim.matmul(sim.from_numpy(a), sim.from_numpy(b), out, alpha=-0.5, beta=2.0) is out
    close(out, R.matmul(a, b, c.copy(), alpha=-0.5, beta=2.0))


def test_beta_zero_ignores_the_old_out_even_nan(sim_forward, rng):
    s = sim_forward
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5))
    out = s.from_numpy(np.full((4, 5), np.nan))
    s.matmul(s.from_numpy(a), s.from_numpy(b), out)
    close(out, a @ b)


def test_bad_input_raises_as_the_twin(sim_forward):
    s = sim_forward
    a, b = np.ones((2, 3)), np.ones((4, 5))
    with pytest.raises(TypeError, match="matmul: a must be a cuda-sim DeviceArray"):
        s.matmul(a, s.from_numpy(b))
    with pytest.raises(TypeError, match="matmul: b must be a cuda-sim DeviceArray"):
        s.matmul(s.from_numpy(a), b)
    d = s.from_numpy
    raises_like_the_twin(lambda: s.matmul(d(a), d(b)), lambda: R.matmul(a, b))
    raises_like_the_twin(lambda: s.matmul(d(a), d(b.T.copy()), trans_b=True),
                         lambda: R.matmul(a, b.T.copy(), trans_b=True))
    raises_like_the_twin(lambda: s.matmul(d(a), d(np.ones((3, 2), np.float32))),
                          lambda: R.matmul(a, np.ones((3, 2), np.float32)))
    raises_like_the_twin(lambda: s.matmul(d(a), d(np.ones((3, 2))), d(np.ones((2, 3)))),
                          lambda: R.matmul(a, np.ones((3, 2)), np.ones((2, 3))))
    raises_like_the_twin(lambda: s.matmul(d(a), d(np.ones((3, 2))), trans_a=1),
                         lambda: R.matmul(a, np.ones((3, 2)), trans_a=1))
    # Zero K is an empty operand, refused by both before any work.
    raises_like_the_twin(lambda: s.matmul(d(np.ones((2, 0))), d(np.ones((0, 3)))),
                          lambda: R.matmul(np.ones((2, 0)), np.ones((0, 3))))
    with pytest.raises(ValueError, match="adds to out, so out must be given"):
        s.matmul(d(a), d(np.ones((3, 2))), beta=1.0)
    with pytest.raises(ValueError, match="matmul: a with shape \\(2, 3\\) contains NaN"):
        s.matmul(d(np.full((2, 3), np.nan)), d(np.ones((3, 2))))
    with pytest.raises(ValueError, match="overflows float32"):
        s.matmul(d(np.ones((2, 3), np.float32)), d(np.ones((3, 2), np.float32)), alpha=1e39)
