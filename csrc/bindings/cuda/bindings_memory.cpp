// What a backend needs besides kernels: allocation, copies, views, fill/clip and a finiteness test.
#include "check.h"
#include "device_check.h"
#include "cuda/memory.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

DeviceArray zeros(const py::object& shape, const py::object& dtype) {
  DeviceArray a = device_empty(shape_arg("zeros", shape), dtype_of("zeros", "dtype", py::dtype::from_args(dtype)));
  PYDL_CUDA_CHECK(cudaMemset(a.data, 0, a.nbytes()));
  return a;
}

DeviceArray copy(const py::object& obj) {
  const DeviceArray a = to_device_array("copy", "a", obj);
  DeviceArray out = device_empty(a.shape, a.dtype);
  PYDL_CUDA_CHECK(cudaMemcpy(out.data, a.data, a.nbytes(), cudaMemcpyDeviceToDevice));
  return out;
}

// dst <- src (a DeviceArray or NumPy array of dst's shape), cast to dst's dtype.
py::object copy_into(const py::object& dst_obj, const py::object& src_obj) {
  const DeviceArray dst = to_device_array("copy_", "dst", dst_obj);
  if (py::isinstance<py::array>(src_obj)) {
    auto src = py::array::ensure(src_obj.attr("astype")(numpy_dtype(dst.dtype)), py::array::c_style);
    if (Shape(src.shape(), src.shape() + src.ndim()) != dst.shape) {
      throw py::value_error("copy_: src must have shape " + shape_str(dst.shape));
    }
    PYDL_CUDA_CHECK(cudaMemcpy(dst.data, src.data(), dst.nbytes(), cudaMemcpyHostToDevice));
    return dst_obj;
  }
  const DeviceArray src = to_device_array("copy_", "src", src_obj);
  if (src.shape != dst.shape) throw py::value_error("copy_: src must have shape " + shape_str(dst.shape) + ", got " + shape_str(src.shape));
  if (src.data == dst.data) return dst_obj;
  if (src.dtype == dst.dtype) {
    PYDL_CUDA_CHECK(cudaMemcpy(dst.data, src.data, dst.nbytes(), cudaMemcpyDeviceToDevice));
  } else if (src.dtype == DType::f32 && dst.dtype == DType::f64) {
    cast<float, double>(src.ptr<float>(), dst.ptr<double>(), dst.size(), stream());
  } else if (src.dtype == DType::f64 && dst.dtype == DType::f32) {
    cast<double, float>(src.ptr<double>(), dst.ptr<float>(), dst.size(), stream());
  } else {
    throw py::type_error(std::string("copy_: cannot copy ") + dtype_name(src.dtype) + " into " + dtype_name(dst.dtype));
  }
  check_launch("copy_");
  return dst_obj;
}

py::object fill_(const py::object& obj, double value) {
  const DeviceArray a = to_device_array("fill_", "a", obj);
  if (a.size() == 0) return obj;
  switch (a.dtype) {
    case DType::f32: fill<float>(a.ptr<float>(), a.size(), float(value), stream()); break;
    case DType::f64: fill<double>(a.ptr<double>(), a.size(), value, stream()); break;
    case DType::i64: fill<int64_t>(a.ptr<int64_t>(), a.size(), int64_t(value), stream()); break;
  }
  check_launch("fill_");
  return obj;
}

// A view with another shape; one entry may be -1 (inferred), as NumPy's reshape.
DeviceArray reshape(const py::object& obj, const py::object& shape_obj) {
  DeviceArray a = to_device_array("reshape", "a", obj);
  Shape shape;
  int infer = -1;
  for (auto item : py::isinstance<py::int_>(shape_obj) ? py::tuple(py::make_tuple(shape_obj)) : shape_obj.cast<py::tuple>()) {
    const int64_t d = item.cast<int64_t>();
    if (d == -1 && infer < 0) {
      infer = int(shape.size());
      shape.push_back(1);
    } else if (d < 0) {
      throw py::value_error("reshape: bad dimension in shape " + py::repr(shape_obj).cast<std::string>());
    } else {
      shape.push_back(d);
    }
  }
  int64_t known = 1;
  for (int64_t d : shape) known *= d;
  if (infer >= 0 && known > 0 && a.size() % known == 0) shape[infer] = a.size() / known;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  if (n != a.size()) throw py::value_error("reshape: cannot reshape an array of shape " + shape_str(a.shape) + " into " + shape_str(shape));
  a.shape = shape;
  return a;
}

// Rows start:stop along the first axis, as a view (Python slice rules for the bounds).
DeviceArray rows(const py::object& obj, int64_t start, int64_t stop) {
  DeviceArray a = to_device_array("rows", "a", obj);
  if (a.shape.empty()) throw py::value_error("rows: a 0-d array has no rows");
  const int64_t n = a.shape[0];
  auto clamp = [n](int64_t i) { return i < 0 ? std::max<int64_t>(0, n + i) : std::min(n, i); };
  start = clamp(start);
  stop = std::max(start, clamp(stop));
  const int64_t row_bytes = n ? int64_t(a.nbytes()) / n : 0;
  a.data = static_cast<char*>(a.data) + start * row_bytes;
  a.shape[0] = stop - start;
  return a;
}

py::object clip_(const py::object& obj, double low, double high) {
  const DeviceArray a = float_input("clip_", "a", obj);
  by_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    clip<T>(a.ptr<T>(), a.size(), T(low), T(high), stream());
  });
  check_launch("clip_");
  return obj;
}

bool all_finite_py(const py::object& obj) { return all_finite("all_finite", to_device_array("all_finite", "a", obj)); }

}  // namespace
}  // namespace pydl::cuda

PYDL_BINDINGS(bind_memory) {
  using namespace pydl::cuda;
  m.def("zeros", &zeros, py::arg("shape"), py::arg("dtype"), "A DeviceArray of zeros.");
  m.def("copy", &copy, py::arg("a"), "A new DeviceArray with a's values.");
  m.def("copy_", &copy_into, py::arg("dst"), py::arg("src"),
        "Write src (a DeviceArray or NumPy array of dst's shape) into dst, cast to dst's dtype; returns dst.");
  m.def("fill_", &fill_, py::arg("a"), py::arg("value"), "Set every element of a to value; returns a.");
  m.def("reshape", &reshape, py::arg("a"), py::arg("shape"), "A view of a with another shape (one entry may be -1).");
  m.def("rows", &rows, py::arg("a"), py::arg("start"), py::arg("stop"), "A view of rows start:stop of a.");
  m.def("clip_", &clip_, py::arg("a"), py::arg("low"), py::arg("high"), "Clip a to [low, high] in place; returns a.");
  m.def("all_finite", &all_finite_py, py::arg("a"), "True when no element of a is NaN or infinite.");
}
