// Fully connected layer, w stored (in, out). Row-major: x (n, in), y and dy (n, out); feature-major
// (narrow layers, in <= 4, out <= 8): x (in, n), y and dy (out, n). Products run on gemm.cu.
//   column_sums_kernel   grid ceil(cols / 32), 256 threads: db (cols) = dy (n, cols) summed over rows
//   dense_fm_forward     a grid-stride loop over samples: y[:, j] = act(w^T x[:, j] + b)
//   dense_fm_backward_dx a grid-stride loop over samples: dx[:, j] = w dz[:, j], dz = dy * act'(y)
//   dense_fm_backward_dw one block per (i, o) of dw, then one per o of db: sums of x dz^T and dz over n
#include "runtime.h"

#include "block_sum.h"
#include "dense.h"
#include "fused_activation.h"
#include "gemm.h"

namespace pydl::cuda {

namespace {

constexpr int kSumCols = 32, kSumLanes = kThreads / kSumCols;  // column sums: 32 columns x 8 row lanes

// Lane (row phase) ty of column c sums rows ty, ty + 8, ... in double; the 8 lanes are then added in
// order (double, as the reference's dy.sum(axis=0, dtype=float64)), plus db's old value when accumulating.
template <typename T>
__global__ void column_sums_kernel(const T* dy, int64_t n, int64_t cols, T* db, bool accumulate) {
  __shared__ double lanes[kSumLanes][kSumCols];
  const int tx = threadIdx.x % kSumCols, ty = threadIdx.x / kSumCols;
  const int64_t c = int64_t(blockIdx.x) * kSumCols + tx;
  double sum = 0.0;
  if (c < cols)
    for (int64_t r = ty; r < n; r += kSumLanes) sum += double(dy[r * cols + c]);
  lanes[ty][tx] = sum;
  __syncthreads();
  if (ty == 0 && c < cols) {
    double total = 0.0;
    for (int l = 0; l < kSumLanes; ++l) total += lanes[l][tx];
    db[c] = T(accumulate ? total + double(db[c]) : total);
  }
}

template <typename T>
__global__ void dense_fm_forward(const T* x, const T* w, const T* b, Activation act, T* y, int64_t n, int64_t in,
                                 int64_t out) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n; j += int64_t(gridDim.x) * blockDim.x) {
    for (int64_t o = 0; o < out; ++o) {
      T z = T(0);
      for (int64_t i = 0; i < in; ++i) z += w[i * out + o] * x[i * n + j];
      if (b) z += b[o];
      y[o * n + j] = fused_activation(act, z);
    }
  }
}

template <typename T>
__global__ void dense_fm_backward_dx(const T* w, const T* y, Activation act, const T* dy, T* dx, int64_t n,
                                     int64_t in, int64_t out) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n; j += int64_t(gridDim.x) * blockDim.x) {
    for (int64_t i = 0; i < in; ++i) {
      T s = T(0);
      for (int64_t o = 0; o < out; ++o) {
        s += w[i * out + o] * fused_activation_grad(act, y ? y[o * n + j] : T(0), dy[o * n + j]);
      }
      dx[i * n + j] = s;
    }
  }
}

// Blocks [0, in * out) each sum one dw[i][o] = sum_j x[i][j] dz[o][j]; blocks [in * out, in * out + out)
// each one db[o] = sum_j dz[o][j]. Thread t takes j = t, t + 256, ...; block_sum adds the threads.
template <typename T>
__global__ void dense_fm_backward_dw(const T* x, const T* y, Activation act, const T* dy, T* dw, T* db, int64_t n,
                                     int64_t in, int64_t out) {
  __shared__ double scratch[kThreads];
  const int64_t k = blockIdx.x;
  const bool is_db = k >= in * out;
  const int64_t o = is_db ? k - in * out : k % out, i = is_db ? 0 : k / out;
  double s = 0.0;
  for (int64_t j = threadIdx.x; j < n; j += kThreads) {
    const T dz = fused_activation_grad(act, y ? y[o * n + j] : T(0), dy[o * n + j]);
    s += is_db ? double(dz) : double(x[i * n + j]) * double(dz);
  }
  const double total = block_sum(s, scratch);
  if (threadIdx.x == 0) (is_db ? db[o] : dw[i * out + o]) = T(total);
}

}  // namespace

template <typename T>
void dense_forward(const T* x, const T* w, const T* b, Activation act, T* y, int64_t n, int64_t in, int64_t out,
                   cudaStream_t stream) {
  GemmEpilogue<T> epilogue;
  epilogue.bias = b;
  epilogue.act = act;
  gemm_batched(false, false, n, out, in, T(1), x, in, 0, w, out, 0, T(0), y, out, 0, 1, epilogue, stream);
}

template <typename T>
void dense_backward(const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, int64_t n, int64_t in, int64_t out,
                    bool accumulate, cudaStream_t stream) {
  gemm(true, false, in, out, n, T(1), x, in, dy, out, accumulate ? T(1) : T(0), dw, out, stream);
  if (db) {
    const unsigned blocks = unsigned((out + kSumCols - 1) / kSumCols);
    PYDL_LAUNCH(column_sums_kernel<T>, blocks, kThreads, stream, dy, n, out, db, accumulate);
  }
  if (dx) gemm(false, true, n, in, out, T(1), dy, out, w, out, T(0), dx, in, stream);
}

template <typename T>
void dense_forward_fm(const T* x, const T* w, const T* b, Activation act, T* y, int64_t n, int64_t in, int64_t out,
                      cudaStream_t stream) {
  PYDL_LAUNCH(dense_fm_forward<T>, grid_for(n), kThreads, stream, x, w, b, act, y, n, in, out);
}

template <typename T>
void dense_backward_fm(const T* x, const T* w, const T* y, Activation act, const T* dy, T* dx, T* dw, T* db,
                       int64_t n, int64_t in, int64_t out, cudaStream_t stream) {
  PYDL_LAUNCH(dense_fm_backward_dw<T>, unsigned(in * out + (db ? out : 0)), kThreads, stream, x, y, act, dy, dw, db,
              n, in, out);
  if (dx) PYDL_LAUNCH(dense_fm_backward_dx<T>, grid_for(n), kThreads, stream, w, y, act, dy, dx, n, in, out);
}

#define PYDL_DENSE_INSTANTIATE(T)                                                                                  \
  template void dense_forward<T>(const T*, const T*, const T*, Activation, T*, int64_t, int64_t, int64_t,         \
                                 cudaStream_t);                                                                   \
  template void dense_backward<T>(const T*, const T*, const T*, T*, T*, T*, int64_t, int64_t, int64_t, bool,      \
                                  cudaStream_t);                                                                  \
  template void dense_forward_fm<T>(const T*, const T*, const T*, Activation, T*, int64_t, int64_t, int64_t,      \
                                    cudaStream_t);                                                                \
  template void dense_backward_fm<T>(const T*, const T*, const T*, Activation, const T*, T*, T*, T*, int64_t,     \
                                     int64_t, int64_t, cudaStream_t);
PYDL_DENSE_INSTANTIATE(float)
PYDL_DENSE_INSTANTIATE(double)
#undef PYDL_DENSE_INSTANTIATE

}  // namespace pydl::cuda
