// Argument validation for the bindings: every argument that crosses into C++ is checked here, once,
// and a bad one becomes a Python TypeError/ValueError that names the function, the argument and the
// expected versus actual type, dtype or shape. Kernels behind the bindings assume valid input.
// pydl/reference/_checks.py mirrors every rule, so both backends fail the same way.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "activations.h"

namespace py = pybind11;

namespace pydl {

using Shape = std::vector<int64_t>;
using Pair = std::pair<int64_t, int64_t>;

std::string shape_str(const Shape& shape);
std::string shape_of(const py::array& a);
std::string dtype_name(const py::array& a);
std::string pair_str(Pair p);

bool is_f32(const py::array& a);
bool is_f64(const py::array& a);

// ---- Scalars. Only plain Python/NumPy scalars are accepted: no ndarray (not even 0-d or 1-element),
// no bool where a number is expected, no foreign object's __index__/__float__ (which may fail or lie).

// A Python int (not bool) or NumPy integer scalar; ValueError outside int64.
int64_t int_arg(const char* fn, const char* name, const py::handle& obj);
// A Python int/float or NumPy integer/floating scalar (not bool), finite (ValueError otherwise).
double float_arg(const char* fn, const char* name, const py::handle& obj);
// ValueError when `like` is float32 and v does not fit it (it would become inf in the kernel).
void fits_dtype(const char* fn, const char* name, double v, const py::array& like);
// True/False or a NumPy bool scalar.
bool bool_arg(const char* fn, const char* name, const py::handle& obj);
// An int, or a tuple/list (h, w) of two ints.
Pair int_pair(const char* fn, const char* name, const py::handle& obj);
// A tuple/list of exactly n ints.
Shape int_tuple(const char* fn, const char* name, const py::handle& obj, size_t n);
// A str (TypeError otherwise).
std::string str_arg(const char* fn, const char* name, const py::handle& obj);
// The activation named by `name` (str_arg's result), one of the first `count` of "none", "relu", "sigmoid",
// "tanh" (a kernel fuses those); ValueError listing them otherwise.
Activation activation_arg(const char* fn, const std::string& name, int count);

// Largest stride, padding or pooling kernel size accepted: larger ones only ever come from bugs or
// hostile input, and this bound keeps every size computation far inside int64.
constexpr int64_t kMaxGeometry = (int64_t(1) << 31) - 1;
// ValueError unless lo <= v <= kMaxGeometry, for each element of the pair.
void geometry_range(const char* fn, const char* name, Pair p, int64_t lo);

// a + b and a * b in int64; ValueError naming `what` when the result does not fit.
int64_t checked_add(const char* fn, const char* what, int64_t a, int64_t b);
int64_t checked_mul(const char* fn, const char* what, int64_t a, int64_t b);
// Elements of an array of this shape; ValueError when its size in bytes would exceed 2^62.
int64_t checked_numel(const char* fn, const char* what, const Shape& shape, int64_t itemsize);

// ---- Arrays.

// The ndarray itself, or a base-class view of a subclass (np.matrix, np.memmap: the same memory, read
// as a plain array). TypeError for anything else, masked arrays included (their mask would be ignored).
py::array as_ndarray(const char* fn, const char* name, const py::handle& obj, const char* expected);

// A float32/float64 (native byte order) non-empty ndarray with real (no zero-stride), C-contiguous,
// aligned memory. TypeError for a non-array or another dtype, ValueError for the rest. ndim < 0: any rank.
py::array float_input(const char* fn, const char* name, const py::handle& obj, int ndim = -1);

// Same dtype as `ref` (TypeError otherwise).
void same_dtype(const char* fn, const char* name, const py::array& a, const char* ref_name, const py::array& ref);

// Exactly this shape (ValueError otherwise).
void same_shape(const char* fn, const char* name, const py::array& a, const Shape& expected);
Shape shape_vec(const py::array& a);

// An output: None allocates a fresh C-contiguous array of `shape` and `dtype_like`'s dtype; an array
// must already have exactly that dtype and shape, be C-contiguous, aligned and writeable, since the
// kernel writes into it in place (no silent temporary copy).
py::array float_output(const char* fn, const char* name, const py::object& out, const Shape& shape,
                       const py::array& dtype_like);

// An array the kernel updates in place (optimizer state, parameters): as float_output, never None.
py::array float_inout(const char* fn, const char* name, const py::handle& obj, const py::array& dtype_like,
                      const Shape& shape);

// Integer array (any integer dtype, not bool) of exactly `shape`, checked before any conversion, with
// real aligned memory; returned as a C-contiguous int64 array (a copy for other widths).
py::array_t<int64_t> int_input(const char* fn, const char* name, const py::handle& obj, const Shape& shape);
bool is_int_array(const py::handle& obj);
// An int64 output (argmax indices): fresh when out is None, else exactly this shape, contiguous, writeable.
py::array int64_output(const char* fn, const char* name, const py::object& out, const Shape& shape);

// ValueError when `out` shares any byte with `in`. allow_same: the very same memory (same start and
// size) is fine, for kernels that document in-place use (element by element).
void no_overlap(const char* fn, const char* out_name, const py::array& out, const char* in_name,
                const py::array& in, bool allow_same = false);

// ValueError when any element is NaN.
void reject_nan(const char* fn, const char* name, const py::array& a);
// ValueError when any element is NaN or +-inf.
void reject_nonfinite(const char* fn, const char* name, const py::array& a);
bool has_nan_f32(const float* p, int64_t n);
// The first i with p[i] outside [0, end), or -1 (index arrays such as max pooling's argmax).
int64_t first_outside(const int64_t* p, int64_t n, int64_t end);
bool has_nan_f64(const double* p, int64_t n);

[[noreturn]] void value_error(const std::string& msg);
[[noreturn]] void type_error(const std::string& msg);

template <typename T>
inline T* ptr(py::array& a) { return static_cast<T*>(a.mutable_data()); }
template <typename T>
inline const T* cptr(const py::array& a) { return static_cast<const T*>(a.data()); }

// The one float/double dispatch: calls f(float{}) or f(double{}) by a's dtype (checked float before).
template <typename F>
inline auto by_dtype(const py::array& a, F&& f) { return is_f32(a) ? f(float{}) : f(double{}); }

}  // namespace pydl
