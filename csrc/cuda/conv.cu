// 2-D convolution by im2col + gemm.cu, NCHW. x (n, c_in, h, w), w (c_out, c_in, kh, kw) seen as a matrix
// (c_out, K) with K = c_in * kh * kw, y and dy (n, c_out, ho, wo), P = ho * wo. A chunk of nb samples at a
// time goes through a workspace cols (nb, K, P): column p of sample s holds the window of output pixel p,
// rows ordered (c, i, j) as w's.
// Each kernel is a grid-stride loop, except channel_sum_kernel:
//   im2col_kernel      over the elements of cols: x, or 0 in the padding
//   col2im_kernel      over the elements of dx: the column-gradient entries of its windows in (i, j) order,
//                      the order of the reference's slice additions
//   sample_sum_kernel  over the elements of dw: the per-sample partials of a chunk added in sample order
//   channel_sum_kernel one block per output channel: db[c] = dy[:, c] summed in a fixed tree order
// Forward: y_s = w cols_s (+ b, relu) as one batched GEMM per chunk. Backward: dw_s = dy_s cols_s^T per
// sample into a workspace, then summed in sample order; dcols_s = w^T dy_s, then col2im.
#include "runtime.h"

#include <algorithm>

#include "block_sum.h"
#include "conv.h"
#include "gemm.h"

namespace pydl::cuda {

namespace {

constexpr int64_t kWorkspaceElements = int64_t(1) << 24;  // cols of a chunk: at most this many elements (or one sample)

template <typename T>
__global__ void im2col_kernel(ConvGeom g, const T* x, T* cols, int64_t total) {
  const int64_t P = g.ho * g.wo, K = g.c_in * g.kh * g.kw;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t p = e % P, r = (e / P) % K, s = e / (P * K);
    const int64_t oh = p / g.wo, ow = p % g.wo;
    const int64_t c = r / (g.kh * g.kw), i = (r / g.kw) % g.kh, j = r % g.kw;
    const int64_t ih = oh * g.sh - g.ph + i, iw = ow * g.sw - g.pw + j;
    const bool inside = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
    cols[e] = inside ? x[((s * g.c_in + c) * g.h + ih) * g.w + iw] : T(0);
  }
}

// dx(s, c, ih, iw) = sum over (i, j) with ih = oh * sh - ph + i, iw = ow * sw - pw + j inside the output of
// dcols(s, (c, i, j), (oh, ow)).
template <typename T>
__global__ void col2im_kernel(ConvGeom g, const T* dcols, T* dx, int64_t total) {
  const int64_t P = g.ho * g.wo, K = g.c_in * g.kh * g.kw;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t iw = e % g.w, ih = (e / g.w) % g.h, c = (e / (g.w * g.h)) % g.c_in, s = e / (g.w * g.h * g.c_in);
    T sum = T(0);
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t oh_span = ih + g.ph - i;  // oh * sh when (ih, i) belongs to output row oh
      if (oh_span < 0 || oh_span % g.sh != 0 || oh_span / g.sh >= g.ho) continue;
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t ow_span = iw + g.pw - j;
        if (ow_span < 0 || ow_span % g.sw != 0 || ow_span / g.sw >= g.wo) continue;
        sum += dcols[(s * K + (c * g.kh + i) * g.kw + j) * P + (oh_span / g.sh) * g.wo + ow_span / g.sw];
      }
    }
    dx[e] = sum;
  }
}

// dw[e] = (accumulate ? dw[e] : 0) + partial[0][e] + partial[1][e] + ... (nb partials of size elements).
template <typename T>
__global__ void sample_sum_kernel(const T* partial, int64_t nb, int64_t total, T* dw, bool accumulate) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    T sum = accumulate ? dw[e] : T(0);
    for (int64_t s = 0; s < nb; ++s) sum += partial[s * total + e];
    dw[e] = sum;
  }
}

template <typename T>
__global__ void channel_sum_kernel(ConvGeom g, const T* dy, T* db) {
  __shared__ double scratch[kThreads];
  const int64_t c = blockIdx.x, P = g.ho * g.wo;
  double s = 0.0;
  for (int64_t e = threadIdx.x; e < g.n * P; e += kThreads) s += double(dy[((e / P) * g.c_out + c) * P + e % P]);
  const double total = block_sum(s, scratch);
  if (threadIdx.x == 0) db[c] = T(total);
}

// Samples per chunk: as many as fit in the workspace, at least one.
int64_t chunk_samples(const ConvGeom& g) {
  const int64_t per_sample = g.c_in * g.kh * g.kw * g.ho * g.wo;
  return std::max<int64_t>(1, std::min(g.n, kWorkspaceElements / per_sample));
}

template <typename T>
void im2col(const ConvGeom& g, const T* x, int64_t nb, T* cols, cudaStream_t stream) {
  const int64_t total = nb * g.c_in * g.kh * g.kw * g.ho * g.wo;
  PYDL_LAUNCH(im2col_kernel<T>, grid_for(total), kThreads, stream, g, x, cols, total);
}

}  // namespace

// The column matrix of a chunk of samples, then (backward) one dw product per sample of the chunk.
int64_t conv2d_workspace(const ConvGeom& g) {
  const int64_t K = g.c_in * g.kh * g.kw, nb_max = chunk_samples(g);
  return nb_max * K * g.ho * g.wo + nb_max * g.c_out * K;
}

template <typename T>
void conv2d_forward(const ConvGeom& g, const T* x, const T* w, const T* b, bool relu, T* y, T* workspace,
                    cudaStream_t stream) {
  const int64_t K = g.c_in * g.kh * g.kw, P = g.ho * g.wo, nb_max = chunk_samples(g);
  T* cols = workspace;
  GemmEpilogue<T> epilogue;
  epilogue.bias = b;
  epilogue.bias_per_row = true;
  epilogue.act = relu ? Activation::relu : Activation::none;
  for (int64_t n0 = 0; n0 < g.n; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, g.n - n0);
    im2col(g, x + n0 * g.c_in * g.h * g.w, nb, cols, stream);
    gemm_batched(false, false, g.c_out, P, K, T(1), w, K, 0, cols, P, K * P, T(0), y + n0 * g.c_out * P, P,
                 g.c_out * P, nb, epilogue, stream);
  }
}

template <typename T>
void conv2d_backward(const ConvGeom& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, T* workspace,
                     cudaStream_t stream) {
  const int64_t K = g.c_in * g.kh * g.kw, P = g.ho * g.wo, nb_max = chunk_samples(g);
  const int64_t dw_size = g.c_out * K;
  T* cols = workspace;
  T* partial = workspace + nb_max * K * P;
  if (db) PYDL_LAUNCH(channel_sum_kernel<T>, unsigned(g.c_out), kThreads, stream, g, dy, db);
  for (int64_t n0 = 0; n0 < g.n; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, g.n - n0);
    const T* dy0 = dy + n0 * g.c_out * P;
    im2col(g, x + n0 * g.c_in * g.h * g.w, nb, cols, stream);
    gemm_batched(false, true, g.c_out, K, P, T(1), dy0, P, g.c_out * P, cols, P, K * P, T(0), partial, K, dw_size, nb,
                 GemmEpilogue<T>{}, stream);
    PYDL_LAUNCH(sample_sum_kernel<T>, grid_for(dw_size), kThreads, stream, partial, nb, dw_size, dw, n0 > 0);
    if (!dx) continue;
    // cols is free again (stream order): it takes the column gradient.
    gemm_batched(true, false, K, P, g.c_out, T(1), w, K, 0, dy0, P, g.c_out * P, T(0), cols, P, K * P, nb,
                 GemmEpilogue<T>{}, stream);
    const int64_t total = nb * g.c_in * g.h * g.w;
    PYDL_LAUNCH(col2im_kernel<T>, grid_for(total), kThreads, stream, g, cols, dx + n0 * g.c_in * g.h * g.w, total);
  }
}

template void conv2d_forward<float>(const ConvGeom&, const float*, const float*, const float*, bool, float*,
                                     float*, cudaStream_t);
template void conv2d_forward<double>(const ConvGeom&, const double*, const double*, const double*, bool, double*,
                                     double*, cudaStream_t);
template void conv2d_backward<float>(const ConvGeom&, const float*, const float*, const float*, float*, float*,
                                     float*, float*, cudaStream_t);
template void conv2d_backward<double>(const ConvGeom&, const double*, const double*, const double*, double*,
                                      double*, double*, double*, cudaStream_t);

}  // namespace pydl::cuda
