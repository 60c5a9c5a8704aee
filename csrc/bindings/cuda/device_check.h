// Argument checks of the CUDA bindings, the device-array counterpart of ../check.h (whose scalar checks,
// int_arg, float_arg, bool_arg, int_pair, activation_arg..., the CUDA bindings use as they are). Messages
// and exception types are those of pydl/reference/_checks.py, so every backend fails the same way.
#pragma once
#include <pybind11/pybind11.h>

#include <string>

#include "device_array.h"

namespace pydl::cuda {

// A float32/float64, non-empty DeviceArray (ndim < 0: any rank). TypeError / ValueError otherwise.
DeviceArray float_input(const char* fn, const char* name, const py::handle& obj, int ndim = -1);
// An int64 DeviceArray of exactly this shape.
DeviceArray int64_input(const char* fn, const char* name, const py::handle& obj, const Shape& shape);
void same_dtype(const char* fn, const char* name, const DeviceArray& a, const char* ref_name, const DeviceArray& ref);
void same_shape(const char* fn, const char* name, const DeviceArray& a, const Shape& shape);
// A new array (obj None), or obj checked to be a DeviceArray of like's dtype and exactly this shape.
DeviceArray float_output(const char* fn, const char* name, const py::handle& obj, const Shape& shape,
                         const DeviceArray& like);
DeviceArray int64_output(const char* fn, const char* name, const py::handle& obj, const Shape& shape);
// ValueError when out shares memory with a (allow_same: being the very same array is fine).
void no_overlap(const char* fn, const char* out_name, const DeviceArray& out, const char* in_name, const DeviceArray& a,
                bool allow_same = false);
// ValueError when a holds NaN (reject_nan) or any non-finite value (reject_nonfinite); one device
// reduction and one copy back. all_finite: no NaN and no inf.
void reject_nan(const char* fn, const char* name, const DeviceArray& a);
void reject_nonfinite(const char* fn, const char* name, const DeviceArray& a);
bool all_finite(const char* fn, const DeviceArray& a);
// v as Python prints a float (the reference's messages format numbers so).
std::string float_text(double v);
// ValueError when the arrays are float32 and v does not fit (it would become inf in the kernel).
void fits_dtype(const char* fn, const char* name, double v, const DeviceArray& like);
// The caller's output object when it gave one (so `kernel(..., out=o) is o`), else the new array.
py::object result(const py::handle& given, const DeviceArray& a);
// RuntimeError when the last launch failed (a bad configuration; in the simulator, a broken barrier).
void check_launch(const char* fn);

template <typename F>
auto by_dtype(const DeviceArray& a, F&& f) {
  return a.dtype == DType::f32 ? f(float{}) : f(double{});
}

// Kernels run on the default stream; the bindings release the GIL around launches.
inline cudaStream_t stream() { return nullptr; }

}  // namespace pydl::cuda
