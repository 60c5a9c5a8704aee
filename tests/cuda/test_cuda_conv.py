"""conv2d forward and backward on the simulator (im2col + the tiled GEMM, fixed-order sums) against the
NumPy twin, on the configurations of tests/kernels/test_conv.py."""
import numpy as np
import pytest

from pydl import reference as R

from cuda_twin import close, in_every_thread_order, raises_like_the_twin
from kernel_configs import conv_configs, conv_id


CONFIGS = conv_configs(64)[0]


def _arrays(cfg):
    rng = np.random.default_rng(cfg["seed"])
    dt = cfg["dtype"]
    x = rng.standard_normal((cfg["n"], cfg["c_in"], cfg["h"], cfg["w"])).astype(dt)
    w = rng.standard_normal((cfg["c_out"], cfg["c_in"], cfg["kh"], cfg["kw"])).astype(dt)
    b = rng.standard_normal(cfg["c_out"]).astype(dt)
    return x, w, b


@pytest.mark.parametrize("cfg", CONFIGS, ids=conv_id)
def test_forward_and_backward_equal_the_twin(sim, cfg):
    s, d = sim, sim.from_numpy
    x, w, b = _arrays(cfg)
    geometry = cfg["stride"], cfg["padding"]
    for activation in ("none", "relu"):
        close(s.conv2d_forward(d(x), d(w), d(b), *geometry, activation),
              R.conv2d_forward(x, w, b, *geometry, activation))
    y = R.conv2d_forward(x, w, b, *geometry)
    dy = np.random.default_rng(cfg["seed"] + 1).standard_normal(y.shape).astype(x.dtype)
    for got, want in zip(s.conv2d_backward(d(x), d(w), d(dy), *geometry), R.conv2d_backward(x, w, dy, *geometry)):
        close(got, want)


@pytest.mark.parametrize("cfg", CONFIGS[:6], ids=conv_id)
def test_backward_has_the_same_bits_in_every_thread_order(sim_forward, cfg):
    s, d = sim_forward, sim_forward.from_numpy
    x, w, b = _arrays(cfg)
    geometry = cfg["stride"], cfg["padding"]
    dy = np.random.default_rng(cfg["seed"] + 1).standard_normal(R.conv2d_forward(x, w, b, *geometry).shape)
    results = in_every_thread_order(s, lambda: s.conv2d_backward(d(x), d(w), d(dy.astype(x.dtype)), *geometry))
    for other in results[1:]:
        for g, r in zip(results[0], other):
            np.testing.assert_array_equal(g, r)


@pytest.mark.parametrize("h,stride", [(2, 2), (2, 3), (3, 3), (3, 4), (4, 4), (4, (4, 1)), (3, (1, 3))])
def test_one_by_one_kernel_whose_stride_skips_pixels(sim_forward, h, stride):
    s, d = sim_forward, sim_forward.from_numpy
    rng = np.random.default_rng(h)
    x, w, b = rng.standard_normal((3, 2, h, h)), rng.standard_normal((4, 2, 1, 1)), rng.standard_normal(4)
    y = s.conv2d_forward(d(x), d(w), d(b), stride, 0)
    close(y, R.conv2d_forward(x, w, b, stride, 0))
    dy = rng.standard_normal(y.shape)
    for got, want in zip(s.conv2d_backward(d(x), d(w), d(dy), stride, 0), R.conv2d_backward(x, w, dy, stride, 0)):
        close(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_mnist_like_layer(sim_forward, dtype):
    """1 -> 16 channels on 28 x 28 with padding 1 (the MNIST CNN's first layer), on two samples."""
    s, d = sim_forward, sim_forward.from_numpy
    rng = np.random.default_rng(3)
    x, w, b = (rng.standard_normal(shape).astype(dtype) for shape in [(2, 1, 28, 28), (16, 1, 3, 3), (16,)])
    close(s.conv2d_forward(d(x), d(w), d(b), 1, 1, "relu"), R.conv2d_forward(x, w, b, 1, 1, "relu"))
    dy = rng.standard_normal((2, 16, 28, 28)).astype(dtype)
    for got, want in zip(s.conv2d_backward(d(x), d(w), d(dy), 1, 1), R.conv2d_backward(x, w, dy, 1, 1)):
        close(got, want)


def test_flags_and_given_outputs(sim_forward, rng):
    s, d = sim_forward, sim_forward.from_numpy
    x, w, dy = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal((2, 4, 3, 3))
    dx, dw, db = s.conv2d_backward(d(x), d(w), d(dy), need_dx=False, has_bias=False)
    assert dx is None and db is None
    close(dw, R.conv2d_backward(x, w, dy)[1])
    given = s.empty((2, 3, 5, 5), np.float64), s.empty((4, 3, 3, 3), np.float64), s.empty((4,), np.float64)
    got = s.conv2d_backward(d(x), d(w), d(dy), dx=given[0], dw=given[1], db=given[2])
    assert all(g is e for g, e in zip(got, given))
    out = s.empty((2, 4, 3, 3), np.float64)
    assert s.conv2d_forward(d(x), d(w), out=out) is out


def test_bad_input_raises_as_the_twin(sim_forward):
    s, d = sim_forward, sim_forward.from_numpy
    x, w = np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3))
    with pytest.raises(TypeError, match="conv2d_forward: x must be a cuda-sim DeviceArray"):
        s.conv2d_forward(x, d(w))
    with pytest.raises(TypeError, match="conv2d_backward: dy must be a cuda-sim DeviceArray"):
        s.conv2d_backward(d(x), d(w), np.ones((1, 3, 3, 3)))
    cases = [
        (lambda m, a: m.conv2d_forward(a(x), a(np.ones((3, 1, 3, 3))))),  # channels
        (lambda m, a: m.conv2d_forward(a(x), a(np.ones((3, 2, 7, 7))))),  # kernel larger than the input
        (lambda m, a: m.conv2d_forward(a(x), a(w), stride=0)),
        (lambda m, a: m.conv2d_forward(a(x), a(w), padding=-1)),
        (lambda m, a: m.conv2d_forward(a(x), a(w), padding=(1, 2, 3))),
        (lambda m, a: m.conv2d_forward(a(x), a(w), activation="tanh")),
        (lambda m, a: m.conv2d_forward(a(x), a(w), a(np.ones(2)))),
        (lambda m, a: m.conv2d_forward(a(x), a(w.astype(np.float32)))),
        (lambda m, a: m.conv2d_forward(a(np.ones((2, 5, 5))), a(w))),
        (lambda m, a: m.conv2d_forward(a(x), a(w), out=a(np.ones((1, 3, 4, 3))))),
        (lambda m, a: m.conv2d_forward(a(np.full((1, 2, 5, 5), np.nan)), a(w))),
        (lambda m, a: m.conv2d_backward(a(x), a(w), a(np.ones((1, 3, 4, 3))))),
        (lambda m, a: m.conv2d_backward(a(x), a(w), a(np.ones((1, 3, 3, 3))), need_dx=False, dx=a(x.copy()))),
    ]
    for case in cases:
        raises_like_the_twin(lambda: case(s, d), lambda: case(R, np.asarray))
