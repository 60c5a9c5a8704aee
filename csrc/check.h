// Argument validation for the bindings: every array that crosses into C++ is checked here, once,
// and a bad one becomes a Python TypeError/ValueError that names the function, the argument and the
// expected versus actual dtype or shape. Kernels behind the bindings assume valid input.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

namespace py = pybind11;

namespace pydl {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& shape);
std::string shape_of(const py::array& a);
std::string dtype_name(const py::array& a);

bool is_f32(const py::array& a);
bool is_f64(const py::array& a);

// A float32/float64 C-contiguous, non-empty ndarray. Raises TypeError for a non-array, an int or
// float16 dtype, and ValueError for a non-contiguous or empty one. ndim < 0 accepts any rank.
py::array float_input(const char* fn, const char* name, const py::handle& obj, int ndim = -1);

// Same dtype as `ref` (TypeError otherwise).
void same_dtype(const char* fn, const char* name, const py::array& a, const char* ref_name, const py::array& ref);

// Exactly this shape (ValueError otherwise).
void same_shape(const char* fn, const char* name, const py::array& a, const Shape& expected);
Shape shape_vec(const py::array& a);

// An output: None allocates a fresh C-contiguous array of `shape` and `dtype_like`'s dtype; an array
// must already have exactly that dtype and shape, be C-contiguous and writeable, since the kernel writes
// into it in place (no silent temporary copy).
py::array float_output(const char* fn, const char* name, const py::object& out, const Shape& shape,
                       const py::array& dtype_like);

// An array the kernel updates in place (optimizer state, parameters): float, contiguous, writeable.
py::array float_inout(const char* fn, const char* name, const py::handle& obj, const py::array& dtype_like,
                      const Shape& shape);

// ValueError when any element is NaN.
void reject_nan(const char* fn, const char* name, const py::array& a);
bool has_nan_f32(const float* p, int64_t n);
bool has_nan_f64(const double* p, int64_t n);

[[noreturn]] void value_error(const std::string& msg);
[[noreturn]] void type_error(const std::string& msg);

template <typename T>
inline T* ptr(py::array& a) { return static_cast<T*>(a.mutable_data()); }
template <typename T>
inline const T* cptr(const py::array& a) { return static_cast<const T*>(a.data()); }

}  // namespace pydl
