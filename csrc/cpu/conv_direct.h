// Direct convolution of one staged sample (conv2d.cpp: zero-padded, rows split into stride phases),
// without an im2col matrix: tap k = (ci, ki, kj) of output pixel (oh, ow) reads staged element
// off[k] + oh * row_step + ow, so the ow of one output row are contiguous and one SIMD vector covers
// up to `lanes` of them. Micro-tiles keep output channels (or taps) times a few pixel vectors in
// registers and read their B operand straight from the staged sample (in L1 for small samples, else L2).
// The kernels are compiled per instruction set (conv_direct_impl.h); conv2d.cpp picks them by shape.
#pragma once
#include <cstdint>

namespace pydl {

template <typename T>
struct DirectConv {
  int64_t K;            // taps c_in * kh * kw
  const int64_t* off;   // K staged offsets
  int64_t c_out, ho, wo, row_step;  // row_step: staged elements from one output row to the next
  // Reads may run up to `lanes` elements past the last one used: the staged buffer needs that slack.
};

template <typename T>
struct DirectConvKernels {
  int lanes;  // elements of one vector
  int mr;     // output channels of a forward micro-tile: wp's panel height
  int mc;     // output channels of a dW micro-tile: pack_dy's groups
  int mk;     // taps of a dx micro-tile: wtp's panel height
  // y (c_out planes of ho * wo) = W * x (+ bias), then max(y, 0) when relu; wp: W in panels of mr channels,
  // wp[(co / mr) * mr * K + k * mr + co % mr]; bias may be null.
  void (*forward)(const DirectConv<T>& d, const T* wp, const T* bias, bool relu, const T* xs, T* y);
  // dy of one sample (c_out planes of ho * wo) as grad_w reads it: per group of `mc` channels (the last one
  // padded with zero channels), per pixel vector (rows of ceil(wo / lanes) vectors), per channel, `lanes`
  // values, a row's last vector padded with zeros: ceil(c_out / mc) * mc * ho * ceil(wo / lanes) * lanes
  // values. A group's vectors lie together: with channels outermost, a tile's loads were c_out * lanes
  // apart and missed L1 (its sets repeat every 4 KB).
  // With relu_y (non-null), dy where relu_y > 0, else 0. With sums (non-null), adds each packed vector of
  // channel co into sums[co * sums_ld + l], l < lanes: db's lane sums, read while dy is loaded anyway.
  void (*pack_dy)(const DirectConv<T>& d, int mc, const T* dy, const T* relu_y, T* dyp, T* sums, int64_t sums_ld);
  // gsum[co * K + k] += sum_pixels dy[co][pixel] * x[tap k of pixel] over `samples` consecutive samples (the
  // staged ones xs_stride apart, their packed dy dyp_stride apart), in a fixed order: lane-wise over the
  // pixels, then over the lanes.
  void (*grad_w)(const DirectConv<T>& d, const T* dyp, int64_t dyp_stride, const T* xs, int64_t xs_stride, T* gsum,
                 int64_t samples);
  // dxs[tap k of pixel] += sum_co W[co][k] * dy[co][pixel], dy packed by pack_dy; wtp: W^T in panels of mk
  // taps, its channels padded with zeros to whole groups of mc (C of them), wtp[(k / mk) * mk * C + co * mk +
  // k % mk].
  void (*grad_x)(const DirectConv<T>& d, const T* wtp, const T* dyp, T* dxs);
};

#ifdef PYDL_X86
namespace conv_avx512 {
extern const DirectConvKernels<float> kernels_f32;
extern const DirectConvKernels<double> kernels_f64;
// 256-bit vectors (AVX-512VL masks), for output rows of at most half a 512-bit vector.
extern const DirectConvKernels<float> narrow_f32;
extern const DirectConvKernels<double> narrow_f64;
}  // namespace conv_avx512
#endif

}  // namespace pydl
