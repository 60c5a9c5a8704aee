// Bindings of the activation kernels on DeviceArrays: the signatures and checks of pydl/reference/activations.py.
#include <cmath>

#include "cuda/activations.h"
#include "check.h"
#include "device_check.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

// y = f(x) on the device: the checks of the reference's _unary, then launch(x, out).
template <typename Launch>
py::object unary(const char* fn, const py::object& x_obj, const py::object& out_obj, Launch launch) {
  const DeviceArray x = float_input(fn, "x", x_obj);
  const DeviceArray out = float_output(fn, "out", out_obj, x.shape, x);
  no_overlap(fn, "out", out, "x", x, true);
  reject_nan(fn, "x", x);
  {
    py::gil_scoped_release nogil;
    launch(x, out);
  }
  check_launch(fn);
  return result(out_obj, out);
}

// dx = f(y, dy) on the device: the checks of the reference's _backward, then launch(y, dy, out).
template <typename Launch>
py::object backward(const char* fn, const py::object& y_obj, const py::object& dy_obj, const py::object& out_obj,
                    int ndim, Launch launch) {
  const DeviceArray y = float_input(fn, "y", y_obj, ndim);
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
    launch(y, dy, out);
  }
  check_launch(fn);
  return result(out_obj, out);
}

double slope_arg(const char* fn, const py::object& obj, const DeviceArray& like) {
  const double slope = float_arg(fn, "negative_slope", obj);
  // A negative slope would make the output's sign ambiguous, and backward works from the output.
  if (!(slope >= 0)) value_error(std::string(fn) + ": negative_slope must be >= 0, got " + float_text(slope));
  fits_dtype(fn, "negative_slope", slope, like);
  return slope;
}

py::object relu_py(const py::object& x, const py::object& out) {
  return unary("relu", x, out, [](const DeviceArray& x, const DeviceArray& out) {
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      relu<T>(x.ptr<T>(), out.ptr<T>(), x.size(), stream());
    });
  });
}

py::object relu_backward_py(const py::object& y, const py::object& dy, const py::object& out) {
  return backward("relu_backward", y, dy, out, -1, [](const DeviceArray& y, const DeviceArray& dy, const DeviceArray& out) {
    by_dtype(y, [&](auto zero) {
      using T = decltype(zero);
      relu_backward<T>(y.ptr<T>(), dy.ptr<T>(), out.ptr<T>(), y.size(), stream());
    });
  });
}

py::object sigmoid_py(const py::object& x, const py::object& out, const py::object& clip_obj) {
  double clip = 0;
  if (!clip_obj.is_none()) {
    clip = float_arg("sigmoid", "clip", clip_obj);
    if (!(clip > 0 && clip < 0.5)) value_error("sigmoid: clip must lie in (0, 0.5), got " + float_text(clip));
  }
  return unary("sigmoid", x, out, [&](const DeviceArray& x, const DeviceArray& out) {
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      sigmoid<T>(x.ptr<T>(), out.ptr<T>(), x.size(), !clip_obj.is_none(), clip, stream());
    });
  });
}

py::object sigmoid_backward_py(const py::object& y, const py::object& dy, const py::object& out) {
  return backward("sigmoid_backward", y, dy, out, -1, [](const DeviceArray& y, const DeviceArray& dy, const DeviceArray& out) {
    by_dtype(y, [&](auto zero) {
      using T = decltype(zero);
      sigmoid_backward<T>(y.ptr<T>(), dy.ptr<T>(), out.ptr<T>(), y.size(), stream());
    });
  });
}

py::object leaky_relu_py(const py::object& x_obj, const py::object& out_obj, const py::object& slope_obj) {
  const char* fn = "leaky_relu";
  const DeviceArray x = float_input(fn, "x", x_obj);
  const double slope = slope_arg(fn, slope_obj, x);
  const DeviceArray out = float_output(fn, "out", out_obj, x.shape, x);
  no_overlap(fn, "out", out, "x", x, true);
  reject_nan(fn, "x", x);
  {
    py::gil_scoped_release nogil;
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      leaky_relu<T>(x.ptr<T>(), out.ptr<T>(), x.size(), slope, stream());
    });
  }
  check_launch(fn);
  return result(out_obj, out);
}

py::object leaky_relu_backward_py(const py::object& y_obj, const py::object& dy_obj, const py::object& out_obj,
                                  const py::object& slope_obj) {
  const char* fn = "leaky_relu_backward";
  const DeviceArray y = float_input(fn, "y", y_obj);
  const DeviceArray dy = float_input(fn, "dy", dy_obj);
  same_dtype(fn, "dy", dy, "y", y);
  same_shape(fn, "dy", dy, y.shape);
  const double slope = slope_arg(fn, slope_obj, y);
  const DeviceArray out = float_output(fn, "out", out_obj, y.shape, y);
  no_overlap(fn, "out", out, "y", y, true);
  no_overlap(fn, "out", out, "dy", dy, true);
  reject_nan(fn, "y", y);
  reject_nan(fn, "dy", dy);
  {
    py::gil_scoped_release nogil;
    by_dtype(y, [&](auto zero) {
      using T = decltype(zero);
      leaky_relu_backward<T>(y.ptr<T>(), dy.ptr<T>(), out.ptr<T>(), y.size(), slope, stream());
    });
  }
  check_launch(fn);
  return result(out_obj, out);
}

py::object tanh_py(const py::object& x, const py::object& out) {
  return unary("tanh", x, out, [](const DeviceArray& x, const DeviceArray& out) {
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      tanh<T>(x.ptr<T>(), out.ptr<T>(), x.size(), stream());
    });
  });
}

py::object tanh_backward_py(const py::object& y, const py::object& dy, const py::object& out) {
  return backward("tanh_backward", y, dy, out, -1, [](const DeviceArray& y, const DeviceArray& dy, const DeviceArray& out) {
    by_dtype(y, [&](auto zero) {
      using T = decltype(zero);
      tanh_backward<T>(y.ptr<T>(), dy.ptr<T>(), out.ptr<T>(), y.size(), stream());
    });
  });
}

py::object softmax_py(const py::object& x_obj, const py::object& out_obj) {
  const char* fn = "softmax";
  const DeviceArray x = float_input(fn, "x", x_obj, 2);
  const DeviceArray out = float_output(fn, "out", out_obj, x.shape, x);
  no_overlap(fn, "out", out, "x", x, true);
  reject_nonfinite(fn, "x", x);  // an inf would make its row NaN
  {
    py::gil_scoped_release nogil;
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      softmax<T>(x.ptr<T>(), out.ptr<T>(), x.shape[0], x.shape[1], stream());
    });
  }
  check_launch(fn);
  return result(out_obj, out);
}

py::object softmax_backward_py(const py::object& y, const py::object& dy, const py::object& out) {
  return backward("softmax_backward", y, dy, out, 2, [](const DeviceArray& y, const DeviceArray& dy, const DeviceArray& out) {
    by_dtype(y, [&](auto zero) {
      using T = decltype(zero);
      softmax_backward<T>(y.ptr<T>(), dy.ptr<T>(), out.ptr<T>(), y.shape[0], y.shape[1], stream());
    });
  });
}

}  // namespace
}  // namespace pydl::cuda

PYDL_BINDINGS(bind_activations) {
  using namespace pydl::cuda;
  using py::arg;
  const auto none = py::none();
  m.def("relu", &relu_py, arg("x"), arg("out") = none, "y = max(x, 0).");
  m.def("relu_backward", &relu_backward_py, arg("y"), arg("dy"), arg("out") = none,
        "dx = dy where y > 0, else 0 (y = relu(x)).");
  m.def("sigmoid", &sigmoid_py, arg("x"), arg("out") = none, arg("clip") = none,
        "1 / (1 + exp(-x)), from exp(-|x|); clip in (0, 0.5) clips the result to [clip, 1 - clip].");
  m.def("sigmoid_backward", &sigmoid_backward_py, arg("y"), arg("dy"), arg("out") = none,
        "dx = dy * y * (1 - y) (y = sigmoid(x)).");
  m.def("leaky_relu", &leaky_relu_py, arg("x"), arg("out") = none, arg("negative_slope") = 0.01,
        "x where x > 0, else negative_slope * x (negative_slope >= 0).");
  m.def("leaky_relu_backward", &leaky_relu_backward_py, arg("y"), arg("dy"), arg("out") = none,
        arg("negative_slope") = 0.01, "dx = dy where y > 0, else negative_slope * dy (y = leaky_relu(x)).");
  m.def("tanh", &tanh_py, arg("x"), arg("out") = none, "Hyperbolic tangent.");
  m.def("tanh_backward", &tanh_backward_py, arg("y"), arg("dy"), arg("out") = none,
        "dx = dy * (1 - y^2) (y = tanh(x)).");
  m.def("softmax", &softmax_py, arg("x"), arg("out") = none, "Row-wise softmax of a finite 2-D x.");
  m.def("softmax_backward", &softmax_backward_py, arg("y"), arg("dy"), arg("out") = none,
        "dx = y * (dy - sum(dy * y, axis=1)) (y = softmax(x)).");
}
