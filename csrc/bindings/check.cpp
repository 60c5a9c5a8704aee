#include "check.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "parallel.h"

namespace pydl {

[[noreturn]] void value_error(const std::string& msg) { throw py::value_error(msg); }
[[noreturn]] void type_error(const std::string& msg) { throw py::type_error(msg); }

namespace {

// NumPy's scalar and array types, looked up once (always under the GIL: bindings hold it).
struct NumpyTypes {
  py::handle ndarray, integer, floating, bool_, masked, asarray;
};

const NumpyTypes& np_types() {
  static const NumpyTypes t = [] {
    py::module_ np = py::module_::import("numpy");
    NumpyTypes r;
    r.ndarray = py::object(np.attr("ndarray")).release();
    r.integer = py::object(np.attr("integer")).release();
    r.floating = py::object(np.attr("floating")).release();
    r.bool_ = py::object(np.attr("bool_")).release();
    r.masked = py::object(py::module_::import("numpy.ma").attr("MaskedArray")).release();
    r.asarray = py::object(np.attr("asarray")).release();
    return r;
  }();
  return t;
}

bool isinstance_of(const py::handle& obj, const py::handle& type) {
  const int r = PyObject_IsInstance(obj.ptr(), type.ptr());
  if (r < 0) throw py::error_already_set();
  return r == 1;
}

// "float", "ndarray of shape (1,) and dtype float64": never the object's repr, which may fail or be huge.
std::string describe(const py::handle& obj) {
  std::string s = Py_TYPE(obj.ptr())->tp_name;
  if (py::isinstance<py::array>(obj)) {
    auto a = py::reinterpret_borrow<py::array>(obj);
    s += " of shape " + shape_of(a) + " and dtype " + dtype_name(a);
  }
  return s;
}

// As Python prints a float, so that messages read as the reference's.
std::string num_str(double v) { return py::repr(py::float_(v)).cast<std::string>(); }

std::string prefix(const char* fn, const char* name) { return std::string(fn) + ": " + name; }

}  // namespace

// Without iostreams: an ostream insertion of an integer crashed pydl._cuda built on the H200 image
// (docs/DEVELOPING.md, measurements); std::to_string needs no locale.
std::string shape_str(const Shape& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

std::string pair_str(Pair p) { return "(" + std::to_string(p.first) + ", " + std::to_string(p.second) + ")"; }

Shape shape_vec(const py::array& a) { return Shape(a.shape(), a.shape() + a.ndim()); }
std::string shape_of(const py::array& a) { return shape_str(shape_vec(a)); }
std::string dtype_name(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

// By type number and byte order, not identity (a dtype with metadata is still float32), read from the
// descriptor without making a Python object: the bindings dispatch on it after releasing the GIL.
static bool native_of_type(const py::array& a, int type_num) {
  const auto* d = py::detail::array_descriptor_proxy(py::detail::array_proxy(a.ptr())->descr);
  return d->type_num == type_num && (d->byteorder == '=' || d->byteorder == '|');
}
bool is_f32(const py::array& a) { return native_of_type(a, py::detail::npy_api::NPY_FLOAT_); }
bool is_f64(const py::array& a) { return native_of_type(a, py::detail::npy_api::NPY_DOUBLE_); }
static bool same_float_dtype(const py::array& a, const py::array& b) {
  return (is_f32(a) && is_f32(b)) || (is_f64(a) && is_f64(b));
}

void fits_dtype(const char* fn, const char* name, double v, const py::array& like) {
  if (is_f32(like) && std::fabs(v) > double(std::numeric_limits<float>::max())) {
    value_error(prefix(fn, name) + "=" + num_str(v) + " overflows float32, the arrays' dtype");
  }
}

// ---- Scalars

int64_t int_arg(const char* fn, const char* name, const py::handle& obj) {
  PyObject* o = obj.ptr();
  py::object owned;
  if (PyLong_Check(o) && !PyBool_Check(o)) {
    owned = py::reinterpret_borrow<py::object>(obj);
  } else if (isinstance_of(obj, np_types().integer)) {
    PyObject* r = PyNumber_Index(o);  // NumPy's own integer scalars: a trusted conversion
    if (!r) throw py::error_already_set();
    owned = py::reinterpret_steal<py::object>(r);
  } else {
    type_error(prefix(fn, name) + " must be an int, got " + describe(obj));
  }
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(owned.ptr(), &overflow);
  if (overflow) value_error(prefix(fn, name) + " is out of range (|value| >= 2**63)");
  if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
  return int64_t(v);
}

double float_arg(const char* fn, const char* name, const py::handle& obj) {
  PyObject* o = obj.ptr();
  double v;
  if (PyBool_Check(o)) {
    type_error(prefix(fn, name) + " must be a number (int or float), got bool");
  } else if (PyFloat_Check(o)) {
    v = PyFloat_AS_DOUBLE(o);
  } else if (PyLong_Check(o)) {
    v = PyLong_AsDouble(o);
    if (v == -1.0 && PyErr_Occurred()) {
      PyErr_Clear();
      value_error(prefix(fn, name) + " is out of the float range");
    }
  } else if (isinstance_of(obj, np_types().floating) || isinstance_of(obj, np_types().integer)) {
    v = PyFloat_AsDouble(o);
    if (v == -1.0 && PyErr_Occurred()) throw py::error_already_set();
  } else {
    type_error(prefix(fn, name) + " must be a number (int or float), got " + describe(obj));
  }
  if (!std::isfinite(v)) value_error(prefix(fn, name) + " must be finite, got " + num_str(v));
  return v;
}

bool bool_arg(const char* fn, const char* name, const py::handle& obj) {
  if (obj.ptr() == Py_True) return true;
  if (obj.ptr() == Py_False) return false;
  if (isinstance_of(obj, np_types().bool_)) return PyObject_IsTrue(obj.ptr()) == 1;
  type_error(prefix(fn, name) + " must be True or False, got " + describe(obj));
}

Pair int_pair(const char* fn, const char* name, const py::handle& obj) {
  if (PyTuple_Check(obj.ptr()) || PyList_Check(obj.ptr())) {
    if (PySequence_Fast_GET_SIZE(obj.ptr()) != 2) {
      type_error(prefix(fn, name) + " must be an int or a pair of ints (h, w), got a " +
                 Py_TYPE(obj.ptr())->tp_name + " of length " + std::to_string(PySequence_Fast_GET_SIZE(obj.ptr())));
    }
    const std::string n0 = std::string(name) + "[0]", n1 = std::string(name) + "[1]";
    // Read both items before converting: a list may not change under us, conversions call no Python code.
    py::object a = py::reinterpret_borrow<py::object>(PySequence_Fast_GET_ITEM(obj.ptr(), 0));
    py::object b = py::reinterpret_borrow<py::object>(PySequence_Fast_GET_ITEM(obj.ptr(), 1));
    return {int_arg(fn, n0.c_str(), a), int_arg(fn, n1.c_str(), b)};
  }
  if ((PyLong_Check(obj.ptr()) && !PyBool_Check(obj.ptr())) || isinstance_of(obj, np_types().integer)) {
    const int64_t v = int_arg(fn, name, obj);
    return {v, v};
  }
  type_error(prefix(fn, name) + " must be an int or a pair of ints (h, w), got " + describe(obj));
}

Shape int_tuple(const char* fn, const char* name, const py::handle& obj, size_t n) {
  if (!(PyTuple_Check(obj.ptr()) || PyList_Check(obj.ptr())) || size_t(PySequence_Fast_GET_SIZE(obj.ptr())) != n) {
    type_error(prefix(fn, name) + " must be a sequence of " + std::to_string(n) + " ints (a tuple or list), got " + describe(obj) +
               ((PyTuple_Check(obj.ptr()) || PyList_Check(obj.ptr()))
                    ? " of length " + std::to_string(PySequence_Fast_GET_SIZE(obj.ptr()))
                    : std::string()));
  }
  std::vector<py::object> items;
  for (size_t i = 0; i < n; ++i) {
    items.push_back(py::reinterpret_borrow<py::object>(PySequence_Fast_GET_ITEM(obj.ptr(), Py_ssize_t(i))));
  }
  Shape s;
  for (size_t i = 0; i < n; ++i) {
    const std::string item = std::string(name) + "[" + std::to_string(i) + "]";
    s.push_back(int_arg(fn, item.c_str(), items[i]));
  }
  return s;
}

std::string str_arg(const char* fn, const char* name, const py::handle& obj) {
  if (!PyUnicode_Check(obj.ptr())) type_error(prefix(fn, name) + " must be a str, got " + describe(obj));
  return obj.cast<std::string>();
}

Activation activation_arg(const char* fn, const std::string& name, int count) {
  static const char* const names[] = {"none", "relu", "sigmoid", "tanh"};
  std::string allowed;
  for (int i = 0; i < count; ++i) {
    if (name == names[i]) return static_cast<Activation>(i);
    allowed += std::string(i == 0 ? "" : i == count - 1 ? " or " : ", ") + "'" + names[i] + "'";
  }
  value_error(std::string(fn) + ": activation must be " + allowed + ", got '" + name + "'");
}

void geometry_range(const char* fn, const char* name, Pair p, int64_t lo) {
  if (p.first < lo || p.second < lo) {
    value_error(prefix(fn, name) + " must be >= " + std::to_string(lo) + ", got " + pair_str(p));
  }
  if (p.first > kMaxGeometry || p.second > kMaxGeometry) {
    value_error(prefix(fn, name) + " must be at most 2**31 - 1, got " + pair_str(p));
  }
}

int64_t checked_add(const char* fn, const char* what, int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) value_error(std::string(fn) + ": " + what + " overflows int64");
  return r;
}

int64_t checked_mul(const char* fn, const char* what, int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) value_error(std::string(fn) + ": " + what + " overflows int64");
  return r;
}

int64_t checked_numel(const char* fn, const char* what, const Shape& shape, int64_t itemsize) {
  int64_t n = 1, bytes;
  bool overflow = false;
  for (int64_t d : shape) overflow |= __builtin_mul_overflow(n, d, &n);
  overflow |= __builtin_mul_overflow(n, itemsize, &bytes);
  if (overflow || bytes > (int64_t(1) << 62)) {
    value_error(std::string(fn) + ": " + what + " of shape " + shape_str(shape) + " would be too large");
  }
  return n;
}

// ---- Arrays

py::array as_ndarray(const char* fn, const char* name, const py::handle& obj, const char* expected) {
  if (Py_TYPE(obj.ptr()) == reinterpret_cast<PyTypeObject*>(np_types().ndarray.ptr())) {
    return py::reinterpret_borrow<py::array>(obj);
  }
  if (!py::isinstance<py::array>(obj)) {
    type_error(prefix(fn, name) + " must be " + expected + ", got " + Py_TYPE(obj.ptr())->tp_name);
  }
  if (isinstance_of(obj, np_types().masked)) {
    type_error(prefix(fn, name) + " is a masked array, whose mask the kernels would ignore; pass " + name +
               ".filled(value) or np.asarray(" + name + ")");
  }
  return py::reinterpret_steal<py::array>(np_types().asarray(obj).release());
}

namespace {

void real_memory(const char* fn, const char* name, const py::array& a) {
  if (a.size() == 0) return;  // an empty array's strides mean nothing
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (a.shape(i) > 1 && a.strides(i) == 0) {
      value_error(prefix(fn, name) + " with shape " + shape_of(a) + " is a broadcast view (stride 0 along axis " +
                  std::to_string(i) + "); pass a real array (np.ascontiguousarray(" + name + "))");
    }
  }
}

void contiguous_aligned(const char* fn, const char* name, const py::array& a, const char* why) {
  real_memory(fn, name, a);
  if (!(a.flags() & py::array::c_style)) {
    value_error(prefix(fn, name) + " with shape " + shape_of(a) + " is not C-contiguous" + why + " (pass np.ascontiguousarray(" +
                name + "))");
  }
  if (!(a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_)) {
    value_error(prefix(fn, name) + " is not aligned to its dtype's size (pass a copy, np.array(" + name + "))");
  }
}

void check_writeable(const char* fn, const char* name, const py::array& a) {
  contiguous_aligned(fn, name, a, "; the kernel writes in place, so it needs a contiguous array");
  if (!a.writeable()) value_error(prefix(fn, name) + " is read-only; the kernel writes into it");
}

}  // namespace

py::array float_input(const char* fn, const char* name, const py::handle& obj, int ndim) {
  py::array a = as_ndarray(fn, name, obj, "a numpy.ndarray of float32 or float64");
  if (!is_f32(a) && !is_f64(a)) {
    type_error(prefix(fn, name) + " must have dtype float32 or float64, got " + dtype_name(a) +
               " (convert with x.astype(np.float32))");
  }
  if (ndim >= 0 && a.ndim() != ndim) {
    value_error(prefix(fn, name) + " must be " + std::to_string(ndim) + "-D, got shape " + shape_of(a));
  }
  contiguous_aligned(fn, name, a, "");
  if (a.size() == 0) value_error(prefix(fn, name) + " is empty (shape " + shape_of(a) + ")");
  return a;
}

void same_dtype(const char* fn, const char* name, const py::array& a, const char* ref_name, const py::array& ref) {
  if (!same_float_dtype(a, ref)) {
    type_error(prefix(fn, name) + " has dtype " + dtype_name(a) + " but " + ref_name + " has " + dtype_name(ref) +
               "; all arrays must share one dtype");
  }
}

void same_shape(const char* fn, const char* name, const py::array& a, const Shape& expected) {
  if (shape_vec(a) != expected) {
    value_error(prefix(fn, name) + " must have shape " + shape_str(expected) + ", got " + shape_of(a));
  }
}

py::array float_output(const char* fn, const char* name, const py::object& out, const Shape& shape,
                       const py::array& dtype_like) {
  if (out.is_none()) {
    checked_numel(fn, name, shape, dtype_like.itemsize());
    return py::array(dtype_like.dtype(), shape);
  }
  return float_inout(fn, name, out, dtype_like, shape);
}

py::array float_inout(const char* fn, const char* name, const py::handle& obj, const py::array& dtype_like,
                      const Shape& shape) {
  py::array a = as_ndarray(fn, name, obj, "a numpy.ndarray");
  if (!same_float_dtype(a, dtype_like)) {
    type_error(prefix(fn, name) + " must have dtype " + dtype_name(dtype_like) + ", got " + dtype_name(a));
  }
  same_shape(fn, name, a, shape);
  check_writeable(fn, name, a);
  return a;
}

py::array int64_output(const char* fn, const char* name, const py::object& out, const Shape& shape) {
  if (out.is_none()) {
    checked_numel(fn, name, shape, sizeof(int64_t));
    return py::array_t<int64_t>(shape);
  }
  py::array a = as_ndarray(fn, name, out, "a numpy.ndarray of int64");
  if (a.dtype().kind() != 'i' || a.itemsize() != 8) {
    type_error(prefix(fn, name) + " must have dtype int64, got " + dtype_name(a));
  }
  same_shape(fn, name, a, shape);
  check_writeable(fn, name, a);
  return a;
}

bool is_int_array(const py::handle& obj) {
  if (!py::isinstance<py::array>(obj)) return false;
  const char kind = py::reinterpret_borrow<py::array>(obj).dtype().kind();
  return kind == 'i' || kind == 'u';
}

py::array_t<int64_t> int_input(const char* fn, const char* name, const py::handle& obj, const Shape& shape) {
  py::array a = as_ndarray(fn, name, obj, "a numpy.ndarray of integers");
  const char kind = a.dtype().kind();
  if (kind != 'i' && kind != 'u') {
    type_error(prefix(fn, name) + " must have an integer dtype, got " + dtype_name(a));
  }
  same_shape(fn, name, a, shape);
  real_memory(fn, name, a);
  if (!(a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_)) {
    value_error(prefix(fn, name) + " is not aligned to its dtype's size (pass a copy, np.array(" + name + "))");
  }
  if (kind == 'u' && a.itemsize() == 8) {
    // uint64 values above 2^63 - 1 would wrap to negative int64: report them as they are.
    py::object big = a.attr("__gt__")(py::int_(std::numeric_limits<int64_t>::max())).attr("any")();
    if (big.cast<bool>()) value_error(prefix(fn, name) + " holds values >= 2**63");
  }
  auto r = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
  if (!r) throw py::error_already_set();
  return r;
}

void no_overlap(const char* fn, const char* out_name, const py::array& out, const char* in_name, const py::array& in,
                bool allow_same) {
  const char* lo_o = static_cast<const char*>(out.data());
  const char* lo_i = static_cast<const char*>(in.data());
  const char* hi_o = lo_o + out.nbytes();
  const char* hi_i = lo_i + in.nbytes();
  if (!(lo_o < hi_i && lo_i < hi_o)) return;
  if (allow_same && lo_o == lo_i && hi_o == hi_i) return;
  value_error(std::string(fn) + ": " + out_name + " shares memory with " + in_name +
              (allow_same ? " without being the very same array" : "") + "; pass a separate array");
}

// Elements per thread of a NaN scan, which streams memory: a training set checked at every epoch
// (MNIST as float32, 188 MB) took ~10 ms of a 420 ms MLP epoch on one thread.
constexpr int64_t kNanScanGrain = int64_t(1) << 21;

template <typename T>
static bool has_nan(const T* p, int64_t n) {
  int bad = 0;
  parallel_for(n, kNanScanGrain, [&](int64_t begin, int64_t end) {
    int found = 0;
    for (int64_t i = begin; i < end; ++i) found |= (p[i] != p[i]);
    if (found) __atomic_store_n(&bad, 1, __ATOMIC_RELAXED);
  });
  return bad != 0;
}

template <typename T>
static bool has_nonfinite(const T* p, int64_t n) {
  int bad = 0;
  parallel_for(n, kNanScanGrain, [&](int64_t begin, int64_t end) {
    int found = 0;
    // x - x is 0 for finite x and NaN for NaN and +-inf.
    for (int64_t i = begin; i < end; ++i) found |= ((p[i] - p[i]) != T(0));
    if (found) __atomic_store_n(&bad, 1, __ATOMIC_RELAXED);
  });
  return bad != 0;
}

bool has_nan_f32(const float* p, int64_t n) { return has_nan(p, n); }

int64_t first_outside(const int64_t* p, int64_t n, int64_t end) {
  constexpr int64_t kBlock = 4096;  // a branch-free scan per block vectorises; only a bad block is searched
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    // The sign bit of p[i] or of end - 1 - p[i] (in uint64: no overflow): SSE2 has no 64-bit compare.
    uint64_t bad = 0;
    for (int64_t i = b; i < e; ++i) bad |= uint64_t(p[i]) | (uint64_t(end - 1) - uint64_t(p[i]));
    if (!(bad >> 63)) continue;
    for (int64_t i = b; i < e; ++i) {
      if (uint64_t(p[i]) >= uint64_t(end)) return i;
    }
  }
  return -1;
}
bool has_nan_f64(const double* p, int64_t n) { return has_nan(p, n); }

void reject_nan(const char* fn, const char* name, const py::array& a) {
  bool bad;
  {
    py::gil_scoped_release nogil;
    bad = is_f32(a) ? has_nan_f32(cptr<float>(a), a.size()) : has_nan_f64(cptr<double>(a), a.size());
  }
  if (bad) value_error(prefix(fn, name) + " with shape " + shape_of(a) + " contains NaN");
}

void reject_nonfinite(const char* fn, const char* name, const py::array& a) {
  bool bad;
  {
    py::gil_scoped_release nogil;
    bad = is_f32(a) ? has_nonfinite(cptr<float>(a), a.size()) : has_nonfinite(cptr<double>(a), a.size());
  }
  if (!bad) return;
  reject_nan(fn, name, a);
  value_error(prefix(fn, name) + " with shape " + shape_of(a) + " contains inf (only finite values are accepted)");
}

}  // namespace pydl
