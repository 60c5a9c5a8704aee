#include "device_array.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>


#include "dlpack.h"

namespace pydl::cuda {

size_t itemsize(DType dtype) { return dtype == DType::f32 ? 4 : 8; }

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i64: return "int64";
  }
  return "?";
}

int64_t DeviceArray::size() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const char* device_name() {
#ifdef PYDL_CUDA_SIM
  return "cuda-sim";
#else
  return "cuda";
#endif
}

DeviceArray device_empty(const Shape& shape, DType dtype) {
  DeviceArray a;
  a.shape = shape;
  a.dtype = dtype;
  void* p = nullptr;
  PYDL_CUDA_CHECK(cudaMalloc(&p, a.nbytes()));
  a.owner = std::shared_ptr<void>(p, [](void* q) { cudaFree(q); });
  a.data = p;
  return a;
}

py::dtype numpy_dtype(DType dtype) {
  switch (dtype) {
    case DType::f32: return py::dtype::of<float>();
    case DType::f64: return py::dtype::of<double>();
    case DType::i64: return py::dtype::of<int64_t>();
  }
  throw std::logic_error("dtype");
}

DType dtype_of(const char* fn, const char* name, const py::dtype& dt) {
  if (dt.equal(py::dtype::of<float>())) return DType::f32;
  if (dt.equal(py::dtype::of<double>())) return DType::f64;
  if (dt.equal(py::dtype::of<int64_t>())) return DType::i64;
  throw py::type_error(std::string(fn) + ": " + name + " must have dtype float32, float64 or int64, got " +
                       py::str(dt).cast<std::string>());
}

Shape shape_arg(const char* fn, const py::handle& obj) {
  Shape shape;
  if (py::isinstance<py::int_>(obj)) {
    shape.push_back(obj.cast<int64_t>());
  } else if (py::isinstance<py::tuple>(obj) || py::isinstance<py::list>(obj)) {
    for (auto item : obj) {
      if (!py::isinstance<py::int_>(item) || py::isinstance<py::bool_>(item)) {
        throw py::type_error(std::string(fn) + ": shape must be a tuple of ints, got " + py::repr(obj).cast<std::string>());
      }
      shape.push_back(item.cast<int64_t>());
    }
  } else {
    throw py::type_error(std::string(fn) + ": shape must be a tuple of ints, got " + py::repr(obj).cast<std::string>());
  }
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw py::value_error(std::string(fn) + ": negative dimension in shape " + shape_str(shape));
    if (d > 0 && n > (int64_t(1) << 60) / d) throw py::value_error(std::string(fn) + ": shape " + shape_str(shape) + " is too large");
    n *= d;
  }
  return shape;
}

namespace {

std::string typestr(DType dtype) {
  switch (dtype) {
    case DType::f32: return "<f4";
    case DType::f64: return "<f8";
    case DType::i64: return "<i8";
  }
  return "";
}

// A foreign object's __cuda_array_interface__ (version 2 or 3), C-contiguous, as a non-owning view.
DeviceArray from_interface(const char* fn, const char* name, const py::handle& obj) {
  py::dict cai = obj.attr("__cuda_array_interface__");
  DeviceArray a;
  for (auto d : cai["shape"].cast<py::tuple>()) a.shape.push_back(d.cast<int64_t>());
  const std::string ts = cai["typestr"].cast<std::string>();
  if (ts == "<f4") a.dtype = DType::f32;
  else if (ts == "<f8") a.dtype = DType::f64;
  else if (ts == "<i8") a.dtype = DType::i64;
  else throw py::type_error(std::string(fn) + ": " + name + " has typestr " + ts + "; expected <f4, <f8 or <i8");
  if (cai.contains("strides") && !cai["strides"].is_none()) {
    int64_t expected = int64_t(itemsize(a.dtype));
    auto strides = cai["strides"].cast<py::tuple>();
    for (int i = int(a.shape.size()) - 1; i >= 0; --i) {
      if (a.shape[i] > 1 && strides[i].cast<int64_t>() != expected) {
        throw py::value_error(std::string(fn) + ": " + name + " is not C-contiguous (pass a contiguous copy)");
      }
      expected *= a.shape[i];
    }
  }
  auto data = cai["data"].cast<py::tuple>();
  a.data = reinterpret_cast<void*>(data[0].cast<uintptr_t>());
  if (data[1].cast<bool>()) throw py::value_error(std::string(fn) + ": " + name + " is read-only");
#ifdef PYDL_CUDA_SIM
  if (a.nbytes() && !pydl::sim::is_device_memory(a.data, a.nbytes())) {
    throw py::type_error(std::string(fn) + ": " + name + "'s __cuda_array_interface__ does not point at cuda-sim device memory");
  }
#endif
  auto* keep = new py::object(py::reinterpret_borrow<py::object>(obj));
  a.owner = std::shared_ptr<void>(keep, [](void* p) {
    py::gil_scoped_acquire gil;
    delete static_cast<py::object*>(p);
  });
  return a;
}

DeviceArray from_numpy(const py::handle& obj) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string("from_numpy: expected a numpy.ndarray, got ") + Py_TYPE(obj.ptr())->tp_name);
  }
  auto arr = py::reinterpret_borrow<py::array>(obj);
  const DType dtype = dtype_of("from_numpy", "a", arr.dtype());
  auto contiguous = py::array::ensure(arr, py::array::c_style);
  Shape shape(contiguous.shape(), contiguous.shape() + contiguous.ndim());
  DeviceArray a = device_empty(shape, dtype);
  PYDL_CUDA_CHECK(cudaMemcpy(a.data, contiguous.data(), a.nbytes(), cudaMemcpyHostToDevice));
  return a;
}

py::array to_numpy(const DeviceArray& a) {
  py::array out(numpy_dtype(a.dtype), a.shape);
  if (a.nbytes()) {
    py::gil_scoped_release nogil;
    PYDL_CUDA_CHECK(cudaMemcpy(out.mutable_data(), a.data, a.nbytes(), cudaMemcpyDeviceToHost));
  }
  return out;
}

py::tuple shape_tuple(const DeviceArray& a) {
  py::tuple t(a.shape.size());
  for (size_t i = 0; i < a.shape.size(); ++i) t[i] = py::int_(a.shape[i]);
  return t;
}

}  // namespace

bool is_device_array(const py::handle& obj) { return py::isinstance<DeviceArray>(obj); }

DeviceArray to_device_array(const char* fn, const char* name, const py::handle& obj) {
  if (is_device_array(obj)) return obj.cast<DeviceArray>();
  if (!py::isinstance<py::array>(obj) && py::hasattr(obj, "__cuda_array_interface__")) return from_interface(fn, name, obj);
  throw py::type_error(std::string(fn) + ": " + name + " must be a " + device_name() +
                       " DeviceArray (or an object with __cuda_array_interface__), got " + Py_TYPE(obj.ptr())->tp_name);
}

void bind_device_array(py::module_& m) {
  py::class_<DeviceArray> cls(m, "DeviceArray", py::module_local(), R"doc(A C-contiguous float32/float64/int64 array in device memory.

Create one with empty/zeros/from_numpy; read it with to_numpy(). It has shape, dtype, ndim, size, nbytes
and ptr, and no way for NumPy to read its memory directly.)doc");
  cls.def_property_readonly("shape", &shape_tuple)
      .def_property_readonly("dtype", [](const DeviceArray& a) { return numpy_dtype(a.dtype); })
      .def_property_readonly("ndim", [](const DeviceArray& a) { return a.shape.size(); })
      .def_property_readonly("size", &DeviceArray::size)
      .def_property_readonly("nbytes", &DeviceArray::nbytes)
      .def_property_readonly("ptr", [](const DeviceArray& a) { return reinterpret_cast<uintptr_t>(a.data); })
      .def_property_readonly("device", [](const DeviceArray&) { return device_name(); })
      .def("to_numpy", &to_numpy, "A NumPy copy of the values (synchronises).")
      .def("__len__", [](const DeviceArray& a) {
        if (a.shape.empty()) throw py::type_error("len() of a 0-d DeviceArray");
        return a.shape[0];
      })
      .def("__repr__", [](const DeviceArray& a) {
        return std::string("DeviceArray(shape=") + shape_str(a.shape) + ", dtype=" + dtype_name(a.dtype) + ", device='" +
               device_name() + "')";
      });
#ifndef PYDL_CUDA_SIM
  // Real device memory only: the simulator's arrays are host memory that no CUDA library may be handed.
  cls.def_property_readonly("__cuda_array_interface__", [](const DeviceArray& a) {
    py::dict cai;
    cai["shape"] = shape_tuple(a);
    cai["typestr"] = typestr(a.dtype);
    cai["data"] = py::make_tuple(reinterpret_cast<uintptr_t>(a.data), false);
    cai["strides"] = py::none();
    cai["version"] = 3;
    cai["stream"] = 1;  // the legacy default stream, on which every pydl kernel runs
    return cai;
  });
  cls.def("__dlpack__", [](const DeviceArray& a, py::object stream) { return to_dlpack(a); }, py::arg("stream") = py::none());
  cls.def("__dlpack_device__", [](const DeviceArray&) { return py::make_tuple(int(kDLCUDA), 0); });
#endif

  m.def("empty", [](const py::object& shape, const py::object& dtype) {
    return device_empty(shape_arg("empty", shape), dtype_of("empty", "dtype", py::dtype::from_args(dtype)));
  }, py::arg("shape"), py::arg("dtype"), "An uninitialised DeviceArray.");
  m.def("from_numpy", &from_numpy, py::arg("a"), "A DeviceArray copy of the NumPy array a (float32, float64 or int64).");
  m.def("as_device_array", [](const py::object& obj) { return to_device_array("as_device_array", "obj", obj); },
        py::arg("obj"),
        "obj itself if it is a DeviceArray, else a zero-copy view of an object with __cuda_array_interface__.");
}

}  // namespace pydl::cuda

namespace pydl::cuda {
namespace {

struct DlpackHolder {
  DeviceArray array;
  DLManagedTensor tensor;
};

void delete_holder(DLManagedTensor* self) { delete static_cast<DlpackHolder*>(self->manager_ctx); }

}  // namespace

py::capsule to_dlpack(const DeviceArray& a) {
  auto* holder = new DlpackHolder{a, {}};
  DLTensor& t = holder->tensor.dl_tensor;
  t.data = a.data;
  t.device = {kDLCUDA, 0};
  t.ndim = static_cast<int32_t>(a.shape.size());
  t.dtype = {uint8_t(a.dtype == DType::i64 ? 0 : 2), uint8_t(itemsize(a.dtype) * 8), 1};
  t.shape = holder->array.shape.data();
  t.strides = nullptr;
  t.byte_offset = 0;
  holder->tensor.manager_ctx = holder;
  holder->tensor.deleter = &delete_holder;
  // A consumer renames the capsule "used_dltensor" and owns the tensor; an unconsumed capsule frees it.
  return py::capsule(&holder->tensor, "dltensor", [](PyObject* capsule) {
    if (PyCapsule_IsValid(capsule, "dltensor")) {
      auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
      managed->deleter(managed);
    }
  });
}

}  // namespace pydl::cuda
