"""CUDA batch kernels on the simulator: gather_rows and count_correct equal their NumPy twins; the index is
range-checked on the device before anything is written."""
import numpy as np
import pytest

from pydl import reference


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("shape,count", [((1,), 1), ((10,), 7), ((50, 3), 33), ((9, 4, 5), 100), ((300, 17), 257)],
                         ids=str)
def test_gather_rows_equals_np_take(sim, rng, shape, count, dtype):
    x = (rng.standard_normal(shape) * 100).astype(dtype)
    index = rng.integers(0, shape[0], count)
    out = sim.gather_rows(sim.from_numpy(x), sim.from_numpy(index))
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.to_numpy(), reference.gather_rows(x, index))


def test_gather_rows_takes_an_empty_index_and_writes_into_out(sim_forward, rng):
    s = sim_forward
    x = rng.standard_normal((6, 2))
    empty = s.gather_rows(s.from_numpy(x), s.from_numpy(np.zeros(0, np.int64)))
    assert empty.shape == (0, 2)
    out = s.empty((3, 2), np.float64)
    assert s.gather_rows(s.from_numpy(x), s.from_numpy(np.array([5, 0, 5])), out=out) is out
    np.testing.assert_array_equal(out.to_numpy(), x[[5, 0, 5]])


@pytest.mark.parametrize("bad", [-1, 6, 2 ** 40])
def test_gather_rows_reports_the_first_index_out_of_range_before_writing(sim, bad):
    x = np.arange(12.0).reshape(6, 2)
    index = np.zeros(3000, np.int64)
    index[[1777, 2900]] = bad  # the first bad one sits past the first block
    out = sim.from_numpy(np.full((3000, 2), 7.0))
    message = f"gather_rows: index holds {bad} at position 1777, outside \\[0, 6\\) for x of shape \\(6, 2\\)"
    with pytest.raises(ValueError, match=message):
        sim.gather_rows(sim.from_numpy(x), sim.from_numpy(index), out=out)
    with pytest.raises(ValueError, match=message):
        reference.gather_rows(x, index)
    assert (out.to_numpy() == 7).all()


def test_gather_rows_refuses_bad_arguments_as_the_twin(sim_forward):
    s = sim_forward
    x = s.from_numpy(np.ones((4, 2)))
    with pytest.raises(TypeError, match="gather_rows: x must be a cuda-sim DeviceArray"):
        s.gather_rows(np.ones((4, 2)), s.from_numpy(np.zeros(1, np.int64)))
    with pytest.raises(TypeError, match="gather_rows: index must be a DeviceArray of integers"):
        s.gather_rows(x, s.from_numpy(np.zeros(1)))
    with pytest.raises(ValueError, match="gather_rows: index must be 1-D"):
        s.gather_rows(x, s.from_numpy(np.zeros((1, 1), np.int64)))
    with pytest.raises(ValueError, match=r"out must have shape \(1, 2\)"):
        s.gather_rows(x, s.from_numpy(np.zeros(1, np.int64)), out=s.empty((2, 2), np.float64))
    with pytest.raises(TypeError, match="out must have dtype int64"):
        s.gather_rows(s.from_numpy(np.ones((4, 2), np.int64)), s.from_numpy(np.zeros(1, np.int64)),
                      out=s.empty((1, 2), np.float64))
    with pytest.raises(ValueError, match="out shares memory with x"):
        s.gather_rows(x, s.from_numpy(np.zeros(4, np.int64)), out=x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (5, 1), (300,), (7, 3), (257, 10), (2 * 8 * 256 + 1, 2)], ids=str)
def test_count_correct_equals_the_twin(sim, rng, shape, dtype):
    output = rng.random(shape).astype(dtype)
    cols = shape[1] if len(shape) == 2 else 1
    labels = rng.integers(0, max(cols, 2), shape[0])
    correct = sim.count_correct(sim.from_numpy(output), sim.from_numpy(labels), threshold=0.4)
    assert type(correct) is int
    assert correct == reference.count_correct(output, labels, threshold=0.4)


def test_count_correct_breaks_ties_and_nan_as_np_argmax(sim_forward):
    s = sim_forward
    output = np.array([[1.0, 3.0, 3.0], [np.nan, 5.0, 1.0], [1.0, np.nan, np.nan], [2.0, 2.0, 2.0]])
    for labels in ([1, 0, 1, 0], [2, 1, 2, 2]):
        labels = np.array(labels)
        assert s.count_correct(s.from_numpy(output), s.from_numpy(labels)) == reference.count_correct(output, labels)


def test_count_correct_refuses_bad_arguments_as_the_twin(sim_forward):
    s = sim_forward
    output = s.from_numpy(np.ones((3, 2)))
    with pytest.raises(TypeError, match="count_correct: output must be a cuda-sim DeviceArray"):
        s.count_correct(np.ones((3, 2)), s.from_numpy(np.zeros(3, np.int64)))
    with pytest.raises(TypeError, match="count_correct: labels must be a cuda-sim DeviceArray"):
        s.count_correct(output, np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="count_correct: labels must have an integer dtype"):
        s.count_correct(output, s.from_numpy(np.zeros(3)))
    with pytest.raises(ValueError, match=r"count_correct: labels must have shape \(3,\)"):
        s.count_correct(output, s.from_numpy(np.zeros(4, np.int64)))
    with pytest.raises(ValueError, match=r"output must be \(N,\) or \(N, C\)"):
        s.count_correct(s.from_numpy(np.ones((3, 2, 1))), s.from_numpy(np.zeros(3, np.int64)))
    with pytest.raises(TypeError, match="threshold must be a number"):
        s.count_correct(output, s.from_numpy(np.zeros(3, np.int64)), threshold=None)
