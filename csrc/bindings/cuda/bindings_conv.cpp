// Bindings of conv2d and 2-D pooling on DeviceArrays: the signatures, checks and messages of
// pydl/reference/conv.py, in its order.
#include <string>
#include <utility>
#include <vector>

#include "check.h"
#include "cuda/conv.h"
#include "cuda/pool.h"
#include "device_check.h"
#include "geometry_check.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

py::object conv2d_forward_py(const py::object& x_obj, const py::object& w_obj, const py::object& b_obj,
                             const py::object& stride, const py::object& padding, const py::object& activation_obj,
                             const py::object& out_obj) {
  const char* fn = "conv2d_forward";
  const std::string activation = str_arg(fn, "activation", activation_obj);
  const DeviceArray x = float_input(fn, "x", x_obj, 4);
  const DeviceArray w = float_input(fn, "w", w_obj, 4);
  same_dtype(fn, "w", w, "x", x);
  const bool has_b = !b_obj.is_none();
  DeviceArray b;
  if (has_b) {
    b = float_input(fn, "b", b_obj, 1);
    same_dtype(fn, "b", b, "x", x);
    same_shape(fn, "b", b, {w.shape[0]});
  }
  const ConvGeom g = conv_geom(fn, x.shape, w.shape, stride, padding);
  const bool relu = activation_arg(fn, activation, 2) == Activation::relu;
  reject_nan(fn, "x", x);
  reject_nan(fn, "w", w);
  if (has_b) reject_nan(fn, "b", b);
  const DeviceArray y = float_output(fn, "out", out_obj, conv_out_shape(g), x);
  no_overlap(fn, "out", y, "x", x);
  no_overlap(fn, "out", y, "w", w);
  if (has_b) no_overlap(fn, "out", y, "b", b);
  const DeviceArray workspace = device_empty({conv2d_workspace(g)}, x.dtype);
  {
    py::gil_scoped_release nogil;
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      conv2d_forward<T>(g, x.ptr<T>(), w.ptr<T>(), has_b ? b.ptr<T>() : nullptr, relu, y.ptr<T>(), workspace.ptr<T>(),
                        stream());
    });
  }
  check_launch(fn);
  return result(out_obj, y);
}

py::tuple conv2d_backward_py(const py::object& x_obj, const py::object& w_obj, const py::object& dy_obj,
                             const py::object& stride, const py::object& padding, const py::object& need_dx_obj,
                             const py::object& has_bias_obj, const py::object& dx_obj, const py::object& dw_obj,
                             const py::object& db_obj) {
  const char* fn = "conv2d_backward";
  const bool need_dx = bool_arg(fn, "need_dx", need_dx_obj), has_bias = bool_arg(fn, "has_bias", has_bias_obj);
  const DeviceArray x = float_input(fn, "x", x_obj, 4);
  const DeviceArray w = float_input(fn, "w", w_obj, 4);
  const DeviceArray dy = float_input(fn, "dy", dy_obj, 4);
  same_dtype(fn, "w", w, "x", x);
  same_dtype(fn, "dy", dy, "x", x);
  const ConvGeom g = conv_geom(fn, x.shape, w.shape, stride, padding);
  same_shape(fn, "dy", dy, conv_out_shape(g));
  reject_nan(fn, "x", x);
  reject_nan(fn, "w", w);
  reject_nan(fn, "dy", dy);
  if (!need_dx && !dx_obj.is_none()) value_error(std::string(fn) + ": dx given with need_dx=False");
  if (!has_bias && !db_obj.is_none()) value_error(std::string(fn) + ": db given with has_bias=False");
  const DeviceArray dw = float_output(fn, "dw", dw_obj, w.shape, x);
  const DeviceArray dx = need_dx ? float_output(fn, "dx", dx_obj, x.shape, x) : DeviceArray();
  const DeviceArray db = has_bias ? float_output(fn, "db", db_obj, Shape{g.c_out}, x) : DeviceArray();
  std::vector<std::pair<const char*, const DeviceArray*>> outputs{{"dw", &dw}};
  if (need_dx) outputs.push_back({"dx", &dx});
  if (has_bias) outputs.push_back({"db", &db});
  for (size_t i = 0; i < outputs.size(); ++i) {
    for (const auto& in : {std::make_pair("x", &x), std::make_pair("w", &w), std::make_pair("dy", &dy)}) {
      no_overlap(fn, outputs[i].first, *outputs[i].second, in.first, *in.second);
    }
    for (size_t j = 0; j < i; ++j) {
      no_overlap(fn, outputs[i].first, *outputs[i].second, outputs[j].first, *outputs[j].second);
    }
  }
  const DeviceArray workspace = device_empty({conv2d_workspace(g)}, x.dtype);
  {
    py::gil_scoped_release nogil;
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      conv2d_backward<T>(g, x.ptr<T>(), w.ptr<T>(), dy.ptr<T>(), need_dx ? dx.ptr<T>() : nullptr, dw.ptr<T>(),
                         has_bias ? db.ptr<T>() : nullptr, workspace.ptr<T>(), stream());
    });
  }
  check_launch(fn);
  return py::make_tuple(need_dx ? result(dx_obj, dx) : py::none(), result(dw_obj, dw),
                        has_bias ? result(db_obj, db) : py::none());
}


py::tuple max_pool2d_forward_py(const py::object& x_obj, const py::object& kernel, const py::object& stride,
                                const py::object& padding, const py::object& out_obj, const py::object& argmax_obj) {
  const char* fn = "max_pool2d_forward";
  const DeviceArray x = float_input(fn, "x", x_obj, 4);
  const PoolGeom g = pool_geom(fn, x.shape, kernel, stride, padding);
  reject_nan(fn, "x", x);
  const Shape out_shape = pool_out_shape(x.shape, g);
  const DeviceArray y = float_output(fn, "out", out_obj, out_shape, x);
  const DeviceArray argmax = int64_output(fn, "argmax", argmax_obj, out_shape);
  no_overlap(fn, "out", y, "x", x);
  no_overlap(fn, "argmax", argmax, "x", x);
  no_overlap(fn, "argmax", argmax, "out", y);
  {
    py::gil_scoped_release nogil;
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      max_pool2d_forward<T>(g, x.ptr<T>(), y.ptr<T>(), argmax.ptr<int64_t>(), stream());
    });
  }
  check_launch(fn);
  return py::make_tuple(result(out_obj, y), result(argmax_obj, argmax));
}

// ValueError naming the first argmax outside [0, plane), read on the host (one copy of argmax).
void argmax_inside(const char* fn, const DeviceArray& argmax, int64_t plane, const Shape& xs) {
  std::vector<int64_t> host(size_t(argmax.size()));
  {
    py::gil_scoped_release nogil;
    PYDL_CUDA_CHECK(cudaMemcpy(host.data(), argmax.data, argmax.nbytes(), cudaMemcpyDeviceToHost));
  }
  const int64_t bad = first_outside(host.data(), int64_t(host.size()), plane);
  if (bad < 0) return;
  value_error(std::string(fn) + ": argmax holds " + std::to_string(host[size_t(bad)]) + ", outside [0, H*W) = [0, " +
              std::to_string(plane) + ") for x_shape " + shape_str(xs));
}

py::object max_pool2d_backward_py(const py::object& dy_obj, const py::object& argmax_obj, const py::object& x_shape_obj,
                                  const py::object& out_obj) {
  const char* fn = "max_pool2d_backward";
  const DeviceArray dy = float_input(fn, "dy", dy_obj, 4);
  const DeviceArray argmax = int64_input(fn, "argmax", argmax_obj, dy.shape);
  const Shape xs = pool_x_shape(fn, x_shape_obj, int64_t(itemsize(dy.dtype)));
  if (xs[0] != dy.shape[0] || xs[1] != dy.shape[1]) {
    value_error(std::string(fn) + ": x_shape " + shape_str(xs) + " must share N and C with dy " + shape_str(dy.shape));
  }
  reject_nan(fn, "dy", dy);
  argmax_inside(fn, argmax, xs[2] * xs[3], xs);  // the product cannot overflow: shape4 checked all four
  const PoolGeom g{xs[0] * xs[1], xs[2], xs[3], 0, 0, 0, 0, 0, 0, dy.shape[2], dy.shape[3]};
  const DeviceArray dx = float_output(fn, "out", out_obj, xs, dy);
  no_overlap(fn, "out", dx, "dy", dy);
  no_overlap(fn, "out", dx, "argmax", argmax);
  {
    py::gil_scoped_release nogil;
    by_dtype(dy, [&](auto zero) {
      using T = decltype(zero);
      max_pool2d_backward<T>(g, dy.ptr<T>(), argmax.ptr<int64_t>(), dx.ptr<T>(), stream());
    });
  }
  check_launch(fn);
  return result(out_obj, dx);
}

py::object avg_pool2d_forward_py(const py::object& x_obj, const py::object& kernel, const py::object& stride,
                                 const py::object& padding, const py::object& out_obj) {
  const char* fn = "avg_pool2d_forward";
  const DeviceArray x = float_input(fn, "x", x_obj, 4);
  const PoolGeom g = pool_geom(fn, x.shape, kernel, stride, padding);
  reject_nan(fn, "x", x);
  const DeviceArray y = float_output(fn, "out", out_obj, pool_out_shape(x.shape, g), x);
  no_overlap(fn, "out", y, "x", x);
  {
    py::gil_scoped_release nogil;
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      avg_pool2d_forward<T>(g, x.ptr<T>(), y.ptr<T>(), stream());
    });
  }
  check_launch(fn);
  return result(out_obj, y);
}

py::object avg_pool2d_backward_py(const py::object& dy_obj, const py::object& x_shape_obj, const py::object& kernel,
                                  const py::object& stride, const py::object& padding, const py::object& out_obj) {
  const char* fn = "avg_pool2d_backward";
  const DeviceArray dy = float_input(fn, "dy", dy_obj, 4);
  const Shape xs = pool_x_shape(fn, x_shape_obj, int64_t(itemsize(dy.dtype)));
  const PoolGeom g = pool_geom(fn, xs, kernel, stride, padding);
  same_shape(fn, "dy", dy, pool_out_shape(xs, g));
  reject_nan(fn, "dy", dy);
  const DeviceArray dx = float_output(fn, "out", out_obj, xs, dy);
  no_overlap(fn, "out", dx, "dy", dy);
  {
    py::gil_scoped_release nogil;
    by_dtype(dy, [&](auto zero) {
      using T = decltype(zero);
      avg_pool2d_backward<T>(g, dy.ptr<T>(), dx.ptr<T>(), stream());
    });
  }
  check_launch(fn);
  return result(out_obj, dx);
}

}  // namespace
}  // namespace pydl::cuda

PYDL_BINDINGS(bind_conv) {
  using namespace pydl::cuda;
  using py::arg;
  const auto none = py::none();
  m.def("conv2d_forward", &conv2d_forward_py, arg("x"), arg("w"), arg("b") = none, arg("stride") = 1,
        arg("padding") = 0, arg("activation") = "none", arg("out") = none,
        "2-D convolution (PyTorch's conv2d, dilation 1, groups 1) on NCHW device arrays, by im2col and the\n"
        "tiled GEMM with bias and ReLU fused; activation 'none' or 'relu'. Returns y (N, C_out, Ho, Wo).");
  m.def("conv2d_backward", &conv2d_backward_py, arg("x"), arg("w"), arg("dy"), arg("stride") = 1, arg("padding") = 0,
        py::kw_only(), arg("need_dx") = true, arg("has_bias") = true, arg("dx") = none, arg("dw") = none,
        arg("db") = none,
        "Gradients (dx or None, dw, db or None) of y = conv2d_forward(x, w, b, stride, padding) given dy,\n"
        "every sum in a fixed order (the same bits on every run).");
  m.def("max_pool2d_forward", &max_pool2d_forward_py, arg("x"), arg("kernel_size"), arg("stride") = none,
        arg("padding") = 0, arg("out") = none, arg("argmax") = none,
        "2-D max pooling: (y, argmax), argmax the int64 flat index ih * W + iw of each maximum in its input\n"
        "plane (the first in row-major order on ties); padding -inf, at most half the kernel.");
  m.def("max_pool2d_backward", &max_pool2d_backward_py, arg("dy"), arg("argmax"), arg("x_shape"), arg("out") = none,
        "Gradient of max_pool2d_forward: dx of shape x_shape, each dy element added at its argmax.");
  m.def("avg_pool2d_forward", &avg_pool2d_forward_py, arg("x"), arg("kernel_size"), arg("stride") = none,
        arg("padding") = 0, arg("out") = none,
        "2-D average pooling, zero padding counted in the divisor kH * kW (count_include_pad=True).");
  m.def("avg_pool2d_backward", &avg_pool2d_backward_py, arg("dy"), arg("x_shape"), arg("kernel_size"),
        arg("stride") = none, arg("padding") = 0, arg("out") = none,
        "Gradient of avg_pool2d_forward: each dy element spread as dy / (kH * kW) over its window.");
}
