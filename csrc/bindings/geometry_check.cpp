#include "geometry_check.h"

#include <string>

namespace pydl {
namespace {

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Elements of one zero-padded, stride-phased sample the convolution stages per thread; beyond this a
// padding or stride that the input does not need would make every call allocate gigabytes.
constexpr int64_t kMaxStagedElements = int64_t(1) << 28;

// floor((in + 2 pad - k) / stride) + 1 for both dimensions, in checked arithmetic (stride and padding
// are at most kMaxGeometry, in and k come from real arrays or checked shapes); ValueError naming all
// sizes when one is < 1.
Pair out_size(const char* fn, Pair in, Pair k, Pair stride, Pair padding) {
  auto one = [&](int64_t i, int64_t kk, int64_t s, int64_t p) {
    const int64_t padded = checked_add(fn, "the padded input size", i, checked_mul(fn, "2 * padding", 2, p));
    return floor_div(padded - kk, s) + 1;
  };
  Pair o{one(in.first, k.first, stride.first, padding.first), one(in.second, k.second, stride.second, padding.second)};
  if (o.first < 1 || o.second < 1) {
    value_error(std::string(fn) + ": output size would be " + pair_str(o) + " for input (H, W) = " + pair_str(in) +
                ", kernel " + pair_str(k) + ", stride " + pair_str(stride) + ", padding " + pair_str(padding) +
                "; the kernel must fit in the padded input (H + 2*padding >= kernel)");
  }
  return o;
}

}  // namespace

ConvGeom conv_geom(const char* fn, const Shape& x, const Shape& w, const py::handle& stride_obj,
                   const py::handle& padding_obj) {
  const Pair stride = int_pair(fn, "stride", stride_obj), padding = int_pair(fn, "padding", padding_obj);
  geometry_range(fn, "stride", stride, 1);
  geometry_range(fn, "padding", padding, 0);
  if (x.at(1) != w.at(1)) {
    value_error(std::string(fn) + ": x has " + std::to_string(x.at(1)) + " input channels (shape " + shape_str(x) +
                ", NCHW) but w expects " + std::to_string(w.at(1)) + " (shape " + shape_str(w) +
                ", (C_out, C_in, kH, kW))");
  }
  const Pair k{w.at(2), w.at(3)};
  out_size(fn, {x.at(2), x.at(3)}, k, stride, padding);  // raises when the kernel does not fit
  const ConvGeom g = conv_geometry(x.at(0), x.at(1), x.at(2), x.at(3), w.at(0), k.first, k.second,
                                   stride.first, stride.second, padding.first, padding.second);
  const int64_t sw = g.sw;
  if (padding.first > 0 || padding.second > 0 || sw > 1) {
    const int64_t hp = x.at(2) + 2 * padding.first, wp = x.at(3) + 2 * padding.second;
    const int64_t row = ((wp + sw - 1) / sw) * sw;
    const int64_t staged =
        checked_mul(fn, "the padded sample size", checked_mul(fn, "the padded sample size", x.at(1), hp), row);
    if (staged > kMaxStagedElements) {
      value_error(std::string(fn) + ": the zero-padded sample would hold " + std::to_string(staged) +
                  " elements (C_in x (H + 2*pad_h) x (W + 2*pad_w), padding " + pair_str(padding) +
                  "), more than the limit 2**28; use less padding");
    }
  }
  return g;
}

Shape conv_out_shape(const ConvGeom& g) { return {g.n, g.c_out, g.ho, g.wo}; }

PoolGeom pool_geom(const char* fn, const Shape& x_shape, const py::handle& kernel_obj, const py::handle& stride_obj,
                   const py::handle& padding_obj) {
  const Pair k = int_pair(fn, "kernel_size", kernel_obj);
  const Pair stride = stride_obj.is_none() ? k : int_pair(fn, "stride", stride_obj);
  const Pair padding = int_pair(fn, "padding", padding_obj);
  geometry_range(fn, "kernel_size", k, 1);
  geometry_range(fn, "stride", stride, 1);
  geometry_range(fn, "padding", padding, 0);
  if (padding.first > k.first / 2 || padding.second > k.second / 2) {
    value_error(std::string(fn) + ": padding " + pair_str(padding) + " must be at most half the kernel size " +
                pair_str(k) + " (as in PyTorch), so every window holds an input element");
  }
  const Pair o = out_size(fn, {x_shape[2], x_shape[3]}, k, stride, padding);
  return {x_shape[0] * x_shape[1], x_shape[2], x_shape[3], k.first, k.second, stride.first, stride.second,
          padding.first, padding.second, o.first, o.second};
}

// x_shape argument of the pooling backwards: 4 positive ints whose product is an allocatable size.
Shape pool_x_shape(const char* fn, const py::handle& obj, int64_t itemsize) {
  Shape s = int_tuple(fn, "x_shape", obj, 4);
  for (int64_t v : s) {
    if (v < 1) value_error(std::string(fn) + ": x_shape must be positive, got " + shape_str(s));
  }
  checked_numel(fn, "dx", s, itemsize);
  return s;
}

Shape pool_out_shape(const Shape& x_shape, const PoolGeom& g) { return {x_shape[0], x_shape[1], g.ho, g.wo}; }

}  // namespace pydl
