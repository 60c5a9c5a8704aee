// 2-D convolution (PyTorch's conv2d with dilation 1, groups 1) and 2-D max/average pooling on NCHW
// data. The bindings validate and fill the geometry; these kernels assume it is consistent, run
// without the GIL and never throw.
#pragma once
#include <algorithm>
#include <cstdint>

namespace pydl {

// Output size floor((in + 2 pad - k) / stride) + 1 of one spatial dimension; < 1 means no window fits.
inline int64_t window_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad) {
  int64_t span = in + 2 * pad - k;
  return span < 0 ? 0 : span / stride + 1;
}

struct ConvGeom {
  int64_t n, c_in, h, w;  // input x (n, c_in, h, w)
  int64_t c_out, kh, kw;  // weight (c_out, c_in, kh, kw)
  int64_t sh, sw, ph, pw;
  int64_t ho, wo;  // output y (n, c_out, ho, wo)
};

// The geometry of a checked convolution. With one output row (column) a stride beyond the padded
// input's span + 1 never takes effect; the smallest stride that still gives one row keeps the
// stride-phased staging of conv2d.cpp as small as the input.
inline ConvGeom conv_geometry(int64_t n, int64_t c_in, int64_t h, int64_t w, int64_t c_out, int64_t kh, int64_t kw,
                              int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  const int64_t ho = window_out_size(h, kh, sh, ph), wo = window_out_size(w, kw, sw, pw);
  if (ho == 1) sh = std::min(sh, h + 2 * ph - kh + 1);
  if (wo == 1) sw = std::min(sw, w + 2 * pw - kw + 1);
  return {n, c_in, h, w, c_out, kh, kw, sh, sw, ph, pw, ho, wo};
}

// y = conv(x, w) + b, then max(y, 0) when relu (as relu() of activations.h: NaN becomes 0); b may be null.
template <typename T>
void conv2d_forward(const ConvGeom& g, const T* x, const T* w, const T* b, bool relu, T* y);

// Gradients of y = conv(x, w) + b given dy: dw always, dx and db when non-null (all overwritten). With relu_y
// (the output of a ReLU on y) dy is the gradient after that ReLU: it counts where relu_y > 0 and is zero
// elsewhere, exactly as relu_backward(relu_y, dy) would give it, but is masked while read.
template <typename T>
void conv2d_backward(const ConvGeom& g, const T* x, const T* w, const T* dy, const T* relu_y, T* dx, T* dw, T* db);

struct PoolGeom {
  int64_t planes, h, w;  // input (n * c) planes of h x w
  int64_t kh, kw, sh, sw, ph, pw;
  int64_t ho, wo;
};

// argmax holds, per output, the flat index ih * w + iw of the maximum in its input plane (the first on ties).
inline PoolGeom pool_geometry(int64_t planes, int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                              int64_t ph, int64_t pw) {
  return {planes, h, w, kh, kw, sh, sw, ph, pw, window_out_size(h, kh, sh, ph), window_out_size(w, kw, sw, pw)};
}

// What the max pooling kernels met in their inputs, as flags: each plane is checked while it is in cache,
// so the bindings need no pass of their own when the outputs are fresh.
constexpr int kPoolNaN = 1;      // x (forward) or dy (backward) holds a NaN
constexpr int kPoolOutside = 2;  // an argmax lies outside [0, h * w); its plane's dx is left zero

// Returns kPoolNaN or 0.
template <typename T>
int max_pool2d_forward(const PoolGeom& g, const T* x, T* y, int64_t* argmax);
// Only planes, h, w, ho, wo of g are used. Returns kPoolNaN / kPoolOutside flags.
template <typename T>
int max_pool2d_backward(const PoolGeom& g, const T* dy, const int64_t* argmax, T* dx);

// Zero padding counts towards the divisor kh * kw (PyTorch's count_include_pad=True).
template <typename T>
void avg_pool2d_forward(const PoolGeom& g, const T* x, T* y);
template <typename T>
void avg_pool2d_backward(const PoolGeom& g, const T* dy, T* dx);

}  // namespace pydl
