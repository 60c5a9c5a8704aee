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
  int mk;     // taps of a dx micro-tile: wtp's panel height
  // y (c_out planes of ho * wo) = W * x (+ bias), then max(y, 0) when relu; wp: W in panels of mr channels,
  // wp[(co / mr) * mr * K + k * mr + co % mr]; bias may be null.
  void (*forward)(const DirectConv<T>& d, const T* wp, const T* bias, bool relu, const T* xs, T* y);
  // gacc[(co * K + k) * lanes + l] += lane l's share of sum_pixels dy[co][pixel] * x[tap k of pixel], over
  // `samples` consecutive samples (dy's c_out * ho * wo apart, the staged ones xs_stride apart).
  void (*grad_w)(const DirectConv<T>& d, const T* dy, const T* xs, T* gacc, int64_t samples, int64_t xs_stride);
  // dxs[tap k of pixel] += sum_co W[co][k] * dy[co][pixel]; wtp: W^T in panels of mk taps,
  // wtp[(k / mk) * mk * c_out + co * mk + k % mk].
  void (*grad_x)(const DirectConv<T>& d, const T* wtp, const T* dy, T* dxs);
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
