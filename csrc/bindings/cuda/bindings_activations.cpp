// Bindings of the activation kernels on DeviceArrays: the signatures and checks of pydl/reference/activations.py.
#include "cuda/activations.h"
#include "check.h"
#include "device_check.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

py::object relu_py(const py::object& x_obj, const py::object& out_obj) {
  const char* fn = "relu";
  const DeviceArray x = float_input(fn, "x", x_obj);
  const DeviceArray out = float_output(fn, "out", out_obj, x.shape, x);
  no_overlap(fn, "out", out, "x", x, true);
  reject_nan(fn, "x", x);
  {
    py::gil_scoped_release nogil;
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      relu<T>(x.ptr<T>(), out.ptr<T>(), x.size(), stream());
    });
  }
  check_launch(fn);
  return result(out_obj, out);
}

py::object relu_backward_py(const py::object& y_obj, const py::object& dy_obj, const py::object& out_obj) {
  const char* fn = "relu_backward";
  const DeviceArray y = float_input(fn, "y", y_obj);
  const DeviceArray dy = float_input(fn, "dy", dy_obj);
  same_dtype(fn, "dy", dy, "y", y);
  same_shape(fn, "dy", dy, y.shape);
  const DeviceArray out = float_output(fn, "out", out_obj, y.shape, y);
  no_overlap(fn, "out", out, "y", y, true);
  no_overlap(fn, "out", out, "dy", dy, true);
  reject_nan(fn, "y", y);
  reject_nan(fn, "dy", dy);
  {
    py::gil_scoped_release nogil;
    by_dtype(y, [&](auto zero) {
      using T = decltype(zero);
      relu_backward<T>(y.ptr<T>(), dy.ptr<T>(), out.ptr<T>(), y.size(), stream());
    });
  }
  check_launch(fn);
  return result(out_obj, out);
}

}  // namespace
}  // namespace pydl::cuda

PYDL_BINDINGS(bind_activations) {
  using namespace pydl::cuda;
  m.def("relu", &relu_py, py::arg("x"), py::arg("out") = py::none(), "y = max(x, 0).");
  m.def("relu_backward", &relu_backward_py, py::arg("y"), py::arg("dy"), py::arg("out") = py::none(),
        "dx = dy where y > 0, else 0 (y = relu(x)).");
}
