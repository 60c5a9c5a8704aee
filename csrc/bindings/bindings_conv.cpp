// Python entry points for conv2d and 2-D pooling: argument parsing, validation, GIL release, dispatch.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "check.h"
#include "conv.h"
#include "geometry_check.h"
#include "registry.h"

namespace pydl {
namespace {

py::array conv2d_forward_py(const py::object& x_obj, const py::object& w_obj, const py::object& b_obj,
                            const py::object& stride, const py::object& padding, const py::object& activation_obj,
                            const py::object& out_obj) {
  const char* fn = "conv2d_forward";
  const std::string activation = str_arg(fn, "activation", activation_obj);
  py::array x = float_input(fn, "x", x_obj, 4);
  py::array w = float_input(fn, "w", w_obj, 4);
  same_dtype(fn, "w", w, "x", x);
  const bool has_b = !b_obj.is_none();
  py::array b;
  if (has_b) {
    b = float_input(fn, "b", b_obj, 1);
    same_dtype(fn, "b", b, "x", x);
    same_shape(fn, "b", b, {w.shape(0)});
  }
  const ConvGeom g = conv_geom(fn, shape_vec(x), shape_vec(w), stride, padding);
  const bool relu = activation_arg(fn, activation, 2) == Activation::relu;
  reject_nan(fn, "x", x);
  reject_nan(fn, "w", w);
  if (has_b) reject_nan(fn, "b", b);
  py::array y = float_output(fn, "out", out_obj, conv_out_shape(g), x);
  no_overlap(fn, "out", y, "x", x);
  no_overlap(fn, "out", y, "w", w);
  if (has_b) no_overlap(fn, "out", y, "b", b);
  py::gil_scoped_release nogil;
  by_dtype(x, [&](auto zero) {
    using T = decltype(zero);
    conv2d_forward<T>(g, cptr<T>(x), cptr<T>(w), has_b ? cptr<T>(b) : nullptr, relu, ptr<T>(y));
  });
  return y;
}

py::tuple conv2d_backward_py(const py::object& x_obj, const py::object& w_obj, const py::object& dy_obj,
                             const py::object& stride, const py::object& padding, const py::object& need_dx_obj,
                             const py::object& has_bias_obj, const py::object& dx_obj, const py::object& dw_obj,
                             const py::object& db_obj) {
  const char* fn = "conv2d_backward";
  const bool need_dx = bool_arg(fn, "need_dx", need_dx_obj), has_bias = bool_arg(fn, "has_bias", has_bias_obj);
  py::array x = float_input(fn, "x", x_obj, 4);
  py::array w = float_input(fn, "w", w_obj, 4);
  py::array dy = float_input(fn, "dy", dy_obj, 4);
  same_dtype(fn, "w", w, "x", x);
  same_dtype(fn, "dy", dy, "x", x);
  const ConvGeom g = conv_geom(fn, shape_vec(x), shape_vec(w), stride, padding);
  same_shape(fn, "dy", dy, conv_out_shape(g));
  reject_nan(fn, "x", x);
  reject_nan(fn, "w", w);
  reject_nan(fn, "dy", dy);
  if (!need_dx && !dx_obj.is_none()) value_error(std::string(fn) + ": dx given with need_dx=False");
  if (!has_bias && !db_obj.is_none()) value_error(std::string(fn) + ": db given with has_bias=False");
  py::array dw = float_output(fn, "dw", dw_obj, shape_vec(w), x);
  py::array dx = need_dx ? float_output(fn, "dx", dx_obj, shape_vec(x), x) : py::array();
  py::array db = has_bias ? float_output(fn, "db", db_obj, Shape{g.c_out}, x) : py::array();
  std::vector<std::pair<const char*, py::array>> outputs{{"dw", dw}};
  if (need_dx) outputs.push_back({"dx", dx});
  if (has_bias) outputs.push_back({"db", db});
  for (size_t i = 0; i < outputs.size(); ++i) {
    for (const auto& in : {std::make_pair("x", x), std::make_pair("w", w), std::make_pair("dy", dy)}) {
      no_overlap(fn, outputs[i].first, outputs[i].second, in.first, in.second);
    }
    for (size_t j = 0; j < i; ++j) no_overlap(fn, outputs[i].first, outputs[i].second, outputs[j].first, outputs[j].second);
  }
  {
    py::gil_scoped_release nogil;
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      conv2d_backward<T>(g, cptr<T>(x), cptr<T>(w), cptr<T>(dy), nullptr, need_dx ? ptr<T>(dx) : nullptr, ptr<T>(dw),
                         has_bias ? ptr<T>(db) : nullptr);
    });
  }
  return py::make_tuple(need_dx ? py::object(dx) : py::object(py::none()), dw,
                        has_bias ? py::object(db) : py::object(py::none()));
}

py::tuple max_pool2d_forward_py(const py::object& x_obj, const py::object& kernel, const py::object& stride,
                                const py::object& padding, const py::object& out_obj, const py::object& argmax_obj) {
  const char* fn = "max_pool2d_forward";
  py::array x = float_input(fn, "x", x_obj, 4);
  const PoolGeom g = pool_geom(fn, shape_vec(x), kernel, stride, padding);
  // Given outputs must stay untouched when x holds NaN; fresh ones may be dropped after the kernel's check.
  const bool fresh = out_obj.is_none() && argmax_obj.is_none();
  if (!fresh) reject_nan(fn, "x", x);
  const Shape out_shape = pool_out_shape(shape_vec(x), g);
  py::array y = float_output(fn, "out", out_obj, out_shape, x);
  py::array argmax = int64_output(fn, "argmax", argmax_obj, out_shape);
  no_overlap(fn, "out", y, "x", x);
  no_overlap(fn, "argmax", argmax, "x", x);
  no_overlap(fn, "argmax", argmax, "out", y);
  int met;
  {
    py::gil_scoped_release nogil;
    met = by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      return max_pool2d_forward<T>(g, cptr<T>(x), ptr<T>(y), static_cast<int64_t*>(argmax.mutable_data()));
    });
  }
  if (met & kPoolNaN) value_error(std::string(fn) + ": x with shape " + shape_of(x) + " contains NaN");
  return py::make_tuple(y, argmax);
}

py::array max_pool2d_backward_py(const py::object& dy_obj, const py::object& argmax_obj, const py::object& x_shape_obj,
                                 const py::object& out_obj) {
  const char* fn = "max_pool2d_backward";
  py::array dy = float_input(fn, "dy", dy_obj, 4);
  auto argmax = int_input(fn, "argmax", argmax_obj, shape_vec(dy));
  const Shape xs = pool_x_shape(fn, x_shape_obj, dy.itemsize());
  if (xs[0] != dy.shape(0) || xs[1] != dy.shape(1)) {
    value_error(std::string(fn) + ": x_shape " + shape_str(xs) + " must share N and C with dy " + shape_of(dy));
  }
  const int64_t plane = xs[2] * xs[3];  // cannot overflow: shape4 checked the product of all four
  auto outside_error = [&] {
    int64_t bad;
    {
      py::gil_scoped_release nogil;
      bad = first_outside(argmax.data(), argmax.size(), plane);
    }
    if (bad < 0) return;
    value_error(std::string(fn) + ": argmax holds " + std::to_string(argmax.data()[bad]) +
                ", outside [0, H*W) = [0, " + std::to_string(plane) + ") for x_shape " + shape_str(xs));
  };
  // A given out must stay untouched on bad input; a fresh one may be dropped after the kernel's checks.
  const bool fresh = out_obj.is_none();
  if (!fresh) {
    reject_nan(fn, "dy", dy);
    outside_error();
  }
  const PoolGeom g{xs[0] * xs[1], xs[2], xs[3], 0, 0, 0, 0, 0, 0, dy.shape(2), dy.shape(3)};
  py::array dx = float_output(fn, "out", out_obj, xs, dy);
  no_overlap(fn, "out", dx, "dy", dy);
  no_overlap(fn, "out", dx, "argmax", argmax);
  int met;
  {
    py::gil_scoped_release nogil;
    met = by_dtype(dy, [&](auto zero) {
      using T = decltype(zero);
      return max_pool2d_backward<T>(g, cptr<T>(dy), argmax.data(), ptr<T>(dx));
    });
  }
  if (met & kPoolNaN) value_error(std::string(fn) + ": dy with shape " + shape_of(dy) + " contains NaN");
  if (met & kPoolOutside) outside_error();
  return dx;
}

py::array avg_pool2d_forward_py(const py::object& x_obj, const py::object& kernel, const py::object& stride,
                                const py::object& padding, const py::object& out_obj) {
  const char* fn = "avg_pool2d_forward";
  py::array x = float_input(fn, "x", x_obj, 4);
  const PoolGeom g = pool_geom(fn, shape_vec(x), kernel, stride, padding);
  reject_nan(fn, "x", x);
  py::array y = float_output(fn, "out", out_obj, pool_out_shape(shape_vec(x), g), x);
  no_overlap(fn, "out", y, "x", x);
  py::gil_scoped_release nogil;
  by_dtype(x, [&](auto zero) {
    using T = decltype(zero);
    avg_pool2d_forward<T>(g, cptr<T>(x), ptr<T>(y));
  });
  return y;
}

py::array avg_pool2d_backward_py(const py::object& dy_obj, const py::object& x_shape_obj, const py::object& kernel,
                                 const py::object& stride, const py::object& padding, const py::object& out_obj) {
  const char* fn = "avg_pool2d_backward";
  py::array dy = float_input(fn, "dy", dy_obj, 4);
  const Shape xs = pool_x_shape(fn, x_shape_obj, dy.itemsize());
  const PoolGeom g = pool_geom(fn, xs, kernel, stride, padding);
  same_shape(fn, "dy", dy, pool_out_shape(xs, g));
  reject_nan(fn, "dy", dy);
  py::array dx = float_output(fn, "out", out_obj, xs, dy);
  no_overlap(fn, "out", dx, "dy", dy);
  py::gil_scoped_release nogil;
  by_dtype(dy, [&](auto zero) {
    using T = decltype(zero);
    avg_pool2d_backward<T>(g, cptr<T>(dy), ptr<T>(dx));
  });
  return dx;
}

}  // namespace
}  // namespace pydl

PYDL_BINDINGS(bind_conv) {
  using namespace pydl;
  m.def("conv2d_forward", &conv2d_forward_py, py::arg("x"), py::arg("w"), py::arg("b") = py::none(),
        py::arg("stride") = 1, py::arg("padding") = 0, py::arg("activation") = "none", py::arg("out") = py::none(),
        R"doc(2-D convolution, exactly torch.nn.functional.conv2d with dilation=1, groups=1.

x (N, C_in, H, W), w (C_out, C_in, kH, kW), b (C_out,) or None; stride and padding an int or an
(h, w) pair (padding is zeros); activation 'none' or 'relu' (max(y, 0), fused into the same pass).
Returns y (N, C_out, Ho, Wo) with Ho = floor((H + 2*pad_h - kH) / stride_h) + 1
(rows/columns that do not fit are dropped), written into `out` when given. ValueError when Ho or Wo
would be < 1, padding < 0, stride < 1, or x and w disagree on C_in.)doc");
  m.def("conv2d_backward", &conv2d_backward_py, py::arg("x"), py::arg("w"), py::arg("dy"), py::arg("stride") = 1,
        py::arg("padding") = 0, py::kw_only(), py::arg("need_dx") = true, py::arg("has_bias") = true,
        py::arg("dx") = py::none(), py::arg("dw") = py::none(), py::arg("db") = py::none(),
        R"doc(Gradients of y = conv2d_forward(x, w, b, stride, padding) given dy = dL/dy (N, C_out, Ho, Wo).

Returns (dx, dw, db): dx (N, C_in, H, W) or None when need_dx=False, dw (C_out, C_in, kH, kW), db (C_out,)
(the sum of dy over N, Ho, Wo) or None when has_bias=False, each written into the array given as dx, dw
or db (allocated when None).)doc");
  m.def("max_pool2d_forward", &max_pool2d_forward_py, py::arg("x"), py::arg("kernel_size"),
        py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("out") = py::none(),
        py::arg("argmax") = py::none(),
        R"doc(2-D max pooling, torch.nn.functional.max_pool2d(x, kernel_size, stride, padding, return_indices=True).

x (N, C, H, W); kernel_size, stride (None: kernel_size) and padding an int or an (h, w) pair; padding
is -inf and at most half the kernel. Returns (y, argmax): y (N, C, Ho, Wo), Ho = floor((H + 2*pad_h - kH) / stride_h) + 1,
and argmax int64 of y's shape, the flat index ih * W + iw of each maximum in its (H, W) input plane
(the first in row-major order on ties); written into out and argmax when given.)doc");
  m.def("max_pool2d_backward", &max_pool2d_backward_py, py::arg("dy"), py::arg("argmax"), py::arg("x_shape"),
        py::arg("out") = py::none(),
        R"doc(Gradient of max_pool2d_forward: dx of shape x_shape (N, C, H, W), zero except that each dy element is
added at its argmax (overlapping windows accumulate), written into out when given. argmax: the int64 array
max_pool2d_forward returned.)doc");
  m.def("avg_pool2d_forward", &avg_pool2d_forward_py, py::arg("x"), py::arg("kernel_size"),
        py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("out") = py::none(),
        R"doc(2-D average pooling, torch.nn.functional.avg_pool2d with count_include_pad=True, ceil_mode=False.

x (N, C, H, W); kernel_size, stride (None: kernel_size) and padding an int or an (h, w) pair, padding at
most half the kernel. Every window's sum, zero padding included, is divided by kH * kW. Returns y (N, C, Ho, Wo),
written into out when given.)doc");
  m.def("avg_pool2d_backward", &avg_pool2d_backward_py, py::arg("dy"), py::arg("x_shape"), py::arg("kernel_size"),
        py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("out") = py::none(),
        R"doc(Gradient of avg_pool2d_forward: dx of shape x_shape (N, C, H, W), each dy element spread as dy / (kH * kW)
over the input elements of its window, written into out when given. dy must have the forward output's shape.)doc");
}
