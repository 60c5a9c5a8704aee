#include "device_check.h"

#include "check.h"
#include "device_values.h"

namespace pydl::cuda {

namespace {

[[noreturn]] void type_error(const std::string& msg) { throw py::type_error(msg); }
[[noreturn]] void value_error(const std::string& msg) { throw py::value_error(msg); }

}  // namespace

DeviceArray float_input(const char* fn, const char* name, const py::handle& obj, int ndim) {
  DeviceArray a = to_device_array(fn, name, obj);
  if (a.dtype == DType::i64) type_error(std::string(fn) + ": " + name + " must have dtype float32 or float64, got int64");
  if (ndim >= 0 && int(a.shape.size()) != ndim) {
    value_error(std::string(fn) + ": " + name + " must be " + std::to_string(ndim) + "-D, got shape " + shape_str(a.shape));
  }
  if (a.size() == 0) value_error(std::string(fn) + ": " + name + " is empty (shape " + shape_str(a.shape) + ")");
  return a;
}

DeviceArray int64_input(const char* fn, const char* name, const py::handle& obj, const Shape& shape) {
  DeviceArray a = to_device_array(fn, name, obj);
  if (a.dtype != DType::i64) type_error(std::string(fn) + ": " + name + " must have an integer dtype, got " + dtype_name(a.dtype));
  same_shape(fn, name, a, shape);
  return a;
}

void same_dtype(const char* fn, const char* name, const DeviceArray& a, const char* ref_name, const DeviceArray& ref) {
  if (a.dtype != ref.dtype) {
    type_error(std::string(fn) + ": " + name + " has dtype " + dtype_name(a.dtype) + " but " + ref_name + " has " +
               dtype_name(ref.dtype) + "; all arrays must share one dtype");
  }
}

void same_shape(const char* fn, const char* name, const DeviceArray& a, const Shape& shape) {
  if (a.shape != shape) {
    value_error(std::string(fn) + ": " + name + " must have shape " + shape_str(shape) + ", got " + shape_str(a.shape));
  }
}

DeviceArray float_output(const char* fn, const char* name, const py::handle& obj, const Shape& shape,
                         const DeviceArray& like) {
  if (obj.is_none()) return device_empty(shape, like.dtype);
  DeviceArray out = to_device_array(fn, name, obj);
  if (out.dtype != like.dtype) {
    type_error(std::string(fn) + ": " + name + " must have dtype " + dtype_name(like.dtype) + ", got " + dtype_name(out.dtype));
  }
  same_shape(fn, name, out, shape);
  return out;
}

DeviceArray int64_output(const char* fn, const char* name, const py::handle& obj, const Shape& shape) {
  if (obj.is_none()) return device_empty(shape, DType::i64);
  DeviceArray out = to_device_array(fn, name, obj);
  if (out.dtype != DType::i64) type_error(std::string(fn) + ": " + name + " must have dtype int64, got " + dtype_name(out.dtype));
  same_shape(fn, name, out, shape);
  return out;
}

void no_overlap(const char* fn, const char* out_name, const DeviceArray& out, const char* in_name, const DeviceArray& a,
                bool allow_same) {
  const char* lo_o = static_cast<const char*>(out.data);
  const char* lo_a = static_cast<const char*>(a.data);
  const char* hi_o = lo_o + out.nbytes();
  const char* hi_a = lo_a + a.nbytes();
  if (!(lo_o < hi_a && lo_a < hi_o)) return;
  if (allow_same && lo_o == lo_a && hi_o == hi_a) return;
  value_error(std::string(fn) + ": " + out_name + " shares memory with " + in_name +
              (allow_same ? " without being the very same array" : "") + "; pass a separate array");
}

// One device reduction and one copy back (device_values.h), so values are checked where they live.
void reject_nan(const char* fn, const char* name, const DeviceArray& a) {
  if (a.dtype == DType::i64) return;
  if (check_values(fn, {a}).arrays[0].status == 2) {
    value_error(std::string(fn) + ": " + name + " with shape " + shape_str(a.shape) + " contains NaN");
  }
}

void reject_nonfinite(const char* fn, const char* name, const DeviceArray& a) {
  if (a.dtype == DType::i64) return;
  raise_nonfinite(fn, name, a, check_values(fn, {a}).arrays[0]);
}

bool all_finite(const char* fn, const DeviceArray& a) {
  return a.dtype == DType::i64 || a.size() == 0 || check_values(fn, {a}).arrays[0].status == 0;
}

std::string float_text(double v) { return py::str(py::float_(v)); }

// check.h's rule and message; it reads only the dtype of its array, so an empty host one stands in.
void fits_dtype(const char* fn, const char* name, double v, const DeviceArray& like) {
  pydl::fits_dtype(fn, name, v, py::array(numpy_dtype(like.dtype), Shape{0}));
}

py::object result(const py::handle& given, const DeviceArray& a) {
  if (!given.is_none()) return py::reinterpret_borrow<py::object>(given);
  return py::cast(a);
}

void check_launch(const char* fn) {
  const cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess) return;
  std::string detail = cudaGetErrorString(status);
#ifdef PYDL_CUDA_SIM
  const std::string more = pydl::sim::last_error_detail();
  if (!more.empty()) detail += " (" + more + ")";
#endif
  throw std::runtime_error(std::string(fn) + ": CUDA error: " + detail);
}

}  // namespace pydl::cuda
