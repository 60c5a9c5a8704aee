"""Dense layer kernels on the simulator (bias and activation in the GEMM epilogue, the feature-major narrow
layer) against their NumPy twins."""
import numpy as np
import pytest

from pydl import reference as R

from cuda_twin import close, in_every_thread_order, raises_like_the_twin

ACTIVATIONS = ["none", "relu", "sigmoid", "tanh"]
# (N, in, out): ones, a narrow layer, sizes around the 128 x 128 tile and the column sums' 32 columns.
SHAPES = [(1, 1, 1), (3, 4, 8), (7, 13, 33), (130, 20, 129)]
NARROW = [(1, 1, 1), (5, 4, 8), (300, 2, 3)]  # (N, in, out), in <= 4, out <= 8


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,n_in,n_out", SHAPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_equals_the_twin(sim, rng, dtype, n, n_in, n_out, activation):
    x, w = rng.standard_normal((n, n_in)).astype(dtype), rng.standard_normal((n_in, n_out)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    d = sim.from_numpy
    close(sim.dense_forward(d(x), d(w), d(b), activation), R.dense_forward(x, w, b, activation))
    close(sim.dense_forward(d(x), d(w), activation=activation), R.dense_forward(x, w, activation=activation))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,n_in,n_out", SHAPES)
@pytest.mark.parametrize("need_dx,has_bias", [(True, True), (False, True), (True, False)])
def test_backward_equals_the_twin(sim, rng, dtype, n, n_in, n_out, need_dx, has_bias):
    x, w = rng.standard_normal((n, n_in)).astype(dtype), rng.standard_normal((n_in, n_out)).astype(dtype)
    dy = rng.standard_normal((n, n_out)).astype(dtype)
    d = sim.from_numpy
    got = sim.dense_backward(d(x), d(w), d(dy), need_dx=need_dx, has_bias=has_bias)
    want = R.dense_backward(x, w, dy, need_dx=need_dx, has_bias=has_bias)
    for g, r in zip(got, want):
        assert (g is None) == (r is None)
        if r is not None:
            close(g, r)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_accumulates_into_the_given_dw_and_db(sim, rng, dtype):
    n, n_in, n_out = 37, 9, 40
    x, w = rng.standard_normal((n, n_in)).astype(dtype), rng.standard_normal((n_in, n_out)).astype(dtype)
    dy = rng.standard_normal((n, n_out)).astype(dtype)
    dw0, db0 = rng.standard_normal((n_in, n_out)).astype(dtype), rng.standard_normal(n_out).astype(dtype)
    d = sim.from_numpy
    dw, db = d(dw0), d(db0)
    dx, dw_got, db_got = sim.dense_backward(d(x), d(w), d(dy), dw=dw, db=db, need_dx=False, accumulate=True)
    assert dx is None and dw_got is dw and db_got is db
    _, dw_want, db_want = R.dense_backward(x, w, dy, dw=dw0.copy(), db=db0.copy(), need_dx=False, accumulate=True)
    close(dw, dw_want)
    close(db, db_want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,n_in,n_out", NARROW)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_feature_major_forward_and_backward_equal_the_twin(sim, rng, dtype, n, n_in, n_out, activation):
    x, w = rng.standard_normal((n_in, n)).astype(dtype), rng.standard_normal((n_in, n_out)).astype(dtype)
    b, dy = rng.standard_normal(n_out).astype(dtype), rng.standard_normal((n_out, n)).astype(dtype)
    d = sim.from_numpy
    y = sim.dense_forward_fm(d(x), d(w), d(b), activation)
    y_want = R.dense_forward_fm(x, w, b, activation)
    close(y, y_want)
    y_arg = None if activation == "none" else y_want
    for need_dx, has_bias in [(True, True), (False, False)]:
        got = sim.dense_backward_fm(d(x), d(w), d(dy), None if y_arg is None else d(y_arg), activation,
                                    need_dx=need_dx, has_bias=has_bias)
        want = R.dense_backward_fm(x, w, dy, y_arg, activation, need_dx=need_dx, has_bias=has_bias)
        for g, r in zip(got, want):
            assert (g is None) == (r is None)
            if r is not None:
                close(g, r)


def test_sums_over_the_batch_repeat_bit_for_bit_in_every_thread_order(sim_forward, rng):
    s = sim_forward
    x, w, dy = rng.standard_normal((300, 3)), rng.standard_normal((3, 40)), rng.standard_normal((300, 40))
    xf, dyf = rng.standard_normal((3, 300)), rng.standard_normal((5, 300))
    d = s.from_numpy
    results = in_every_thread_order(
        s, lambda: s.dense_backward(d(x), d(w), d(dy)) + s.dense_backward_fm(d(xf), d(w[:, :5]), d(dyf)))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_outputs_are_written_in_place_and_returned(sim_forward, rng):
    s = sim_forward
    x, w, b = (s.from_numpy(rng.standard_normal(shape)) for shape in [(6, 5), (5, 7), (7,)])
    out = s.empty((6, 7), np.float64)
    assert s.dense_forward(x, w, b, "relu", out=out) is out
    dx, dw, db = s.empty((6, 5), np.float64), s.empty((5, 7), np.float64), s.empty((7,), np.float64)
    got = s.dense_backward(x, w, out, dx=dx, dw=dw, db=db)
    assert all(g is given for g, given in zip(got, (dx, dw, db)))


def test_bad_input_raises_as_the_twin(sim_forward):
    s = sim_forward
    d = s.from_numpy
    x, w, dy = np.ones((4, 3)), np.ones((3, 2)), np.ones((4, 2))
    with pytest.raises(TypeError, match="dense_forward: w must be a cuda-sim DeviceArray"):
        s.dense_forward(d(x), w)
    with pytest.raises(TypeError, match="dense_backward: dy must be a cuda-sim DeviceArray"):
        s.dense_backward(d(x), d(w), dy)
    with pytest.raises(TypeError, match="dense_forward_fm: x must be a cuda-sim DeviceArray"):
        s.dense_forward_fm(x.T.copy(), d(w))
    cases = [
        (lambda m, a: m.dense_forward(a(x), a(np.ones((4, 2))))),  # in_features mismatch
        (lambda m, a: m.dense_forward(a(x), a(w), a(np.ones(3)))),  # bias shape
        (lambda m, a: m.dense_forward(a(x), a(w), a(np.ones(2, np.float32)))),  # bias dtype
        (lambda m, a: m.dense_forward(a(x), a(w), activation="softmax")),
        (lambda m, a: m.dense_forward(a(x), a(w), out=a(np.ones((4, 3))))),
        (lambda m, a: m.dense_forward(a(x), a(w), out=a(np.ones((4, 2), np.float32)))),
        (lambda m, a: m.dense_forward(a(np.full((4, 3), np.nan)), a(w))),
        (lambda m, a: m.dense_backward(a(x), a(w), a(np.ones((4, 3))))),  # dy shape
        (lambda m, a: m.dense_backward(a(x), a(w), a(dy), dx=a(np.ones((4, 3))), need_dx=False)),
        (lambda m, a: m.dense_backward(a(x), a(w), a(dy), accumulate=True)),
        (lambda m, a: m.dense_backward(a(x), a(w), a(dy), need_dx=1)),
        (lambda m, a: m.dense_forward_fm(a(x.T.copy()), a(np.ones((3, 9))))),  # not narrow
        (lambda m, a: m.dense_backward_fm(a(x.T.copy()), a(w), a(dy.T.copy()), activation="relu")),  # y missing
        (lambda m, a: m.dense_backward_fm(a(x.T.copy()), a(w), a(dy.T.copy()), a(np.ones((2, 3))), "tanh")),
    ]
    for case in cases:
        raises_like_the_twin(lambda: case(s, d), lambda: case(R, np.asarray))
    shared = d(np.ones((4, 2)))
    with pytest.raises(ValueError, match="dense_backward: dx shares memory with dy"):
        s.dense_backward(d(np.ones((4, 2))), d(np.ones((2, 2))), shared, dx=shared)
