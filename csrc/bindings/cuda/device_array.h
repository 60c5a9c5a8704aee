// DeviceArray: a C-contiguous array in device memory (shape, dtype, pointer), the array type of the "cuda"
// and "cuda-sim" backends. It offers NumPy no way into its memory (no __array__, no buffer protocol):
// values cross only through to_numpy/from_numpy, so a stray host access to device data fails.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "check.h"
#include "cuda/runtime.h"

namespace py = pybind11;

namespace pydl::cuda {

using Shape = std::vector<int64_t>;

enum class DType { f32, f64, i64 };

size_t itemsize(DType dtype);
const char* dtype_name(DType dtype);
using pydl::shape_str;  // check.h

struct DeviceArray {
  std::shared_ptr<void> owner;  // keeps the memory alive: a device allocation or a foreign array object
  void* data = nullptr;
  Shape shape;
  DType dtype = DType::f32;

  int64_t size() const;
  size_t nbytes() const { return size_t(size()) * itemsize(dtype); }
  template <typename T>
  T* ptr() const {
    return static_cast<T*>(data);
  }
};

// The device this module drives: "cuda" or "cuda-sim".
const char* device_name();

DeviceArray device_empty(const Shape& shape, DType dtype);
// A DeviceArray of `obj`: itself, or a zero-copy view of an object exposing __cuda_array_interface__
// (CuPy arrays, PyTorch CUDA tensors) that keeps `obj` alive. TypeError for anything else.
bool is_device_array(const py::handle& obj);
DeviceArray to_device_array(const char* fn, const char* name, const py::handle& obj);

py::dtype numpy_dtype(DType dtype);
// float32, float64 or int64; TypeError naming `name` otherwise.
DType dtype_of(const char* fn, const char* name, const py::dtype& dt);
// A shape given as an int or a tuple/list of non-negative ints.
Shape shape_arg(const char* fn, const py::handle& obj);

void bind_device_array(py::module_& m);

}  // namespace pydl::cuda
