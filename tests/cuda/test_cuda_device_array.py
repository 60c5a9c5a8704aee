"""DeviceArray: device memory that crosses to the host only through from_numpy/to_numpy."""
import numpy as np
import pytest


def test_round_trip_keeps_values_shape_and_dtype(sim_forward, rng):
    for dtype in (np.float32, np.float64, np.int64):
        a = (rng.standard_normal((4, 3)) * 10).astype(dtype)
        d = sim_forward.from_numpy(a)
        assert d.shape == (4, 3) and d.dtype == dtype and d.ndim == 2 and d.size == 12 and d.nbytes == a.nbytes
        assert d.device == "cuda-sim" and "cuda-sim" in repr(d)
        np.testing.assert_array_equal(d.to_numpy(), a)


def test_numpy_cannot_read_device_memory(sim_forward):
    d = sim_forward.from_numpy(np.ones(3))
    assert not hasattr(d, "__array__") and not hasattr(d, "__array_interface__")
    assert not hasattr(d, "__cuda_array_interface__")  # host memory must not pass for a GPU's
    with pytest.raises(TypeError):
        memoryview(d)
    with pytest.raises(TypeError):
        np.asarray(d) + 1


def test_views_and_helpers(sim_forward, rng):
    s = sim_forward
    a = rng.standard_normal((6, 4))
    d = s.from_numpy(a)
    np.testing.assert_array_equal(s.rows(d, 2, 5).to_numpy(), a[2:5])
    np.testing.assert_array_equal(s.rows(d, -2, 100).to_numpy(), a[-2:100])
    np.testing.assert_array_equal(s.reshape(d, (-1, 3)).to_numpy(), a.reshape(-1, 3))
    with pytest.raises(ValueError, match="cannot reshape"):
        s.reshape(d, (5, -1))
    c = s.copy(d)
    s.fill_(d, 2.5)
    np.testing.assert_array_equal(c.to_numpy(), a)
    assert (d.to_numpy() == 2.5).all()
    s.copy_(d, a.astype(np.float32))  # cast to d's dtype on the way in
    np.testing.assert_array_equal(d.to_numpy(), a.astype(np.float32).astype(np.float64))
    s.copy_(d, a)
    single = s.zeros((6, 4), np.float32)
    s.copy_(single, d)
    np.testing.assert_array_equal(single.to_numpy(), a.astype(np.float32))
    s.clip_(d, -0.5, 0.5)
    np.testing.assert_array_equal(d.to_numpy(), np.clip(a, -0.5, 0.5))
    assert s.all_finite(d)
    s.copy_(d, np.full((6, 4), np.inf))
    assert not s.all_finite(d)


class ForeignArray:
    """A stand-in for a CuPy array or PyTorch CUDA tensor: only __cuda_array_interface__."""

    def __init__(self, ptr, shape, typestr):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr, "data": (ptr, False), "version": 3,
                                         "strides": None}


def test_cuda_array_interface_inputs_are_used_without_a_copy(sim_forward):
    s = sim_forward
    x = s.from_numpy(np.array([-1.0, 2.0, -3.0]))
    out = s.zeros((3,), np.float64)
    foreign_out = ForeignArray(out.ptr, (3,), "<f8")
    assert s.relu(ForeignArray(x.ptr, (3,), "<f8"), out=foreign_out) is foreign_out
    np.testing.assert_array_equal(out.to_numpy(), [0.0, 2.0, 0.0])  # written through the foreign view


def test_cuda_array_interface_must_point_at_device_memory(sim_forward):
    host = np.ones(3)
    with pytest.raises(TypeError, match="does not point at cuda-sim device memory"):
        sim_forward.relu(ForeignArray(host.ctypes.data, (3,), "<f8"))
    with pytest.raises(TypeError, match="typestr"):
        sim_forward.as_device_array(ForeignArray(0, (3,), "<f2"))
