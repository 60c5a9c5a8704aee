// Tiled GEMM, row-major: C[M x N] = alpha * op(A)[M x K] * op(B)[K x N] + beta * C, then the epilogue
// (bias per row or column, activation).
//   gemm_kernel   grid (ceil(M / 128), ceil(N / 128), batch), 256 threads: one 128 x 128 tile of C per
//                 block, an 8 x 8 register tile per thread (runs of 4 rows and columns), K walked in slices
//                 of 16 staged in shared memory
#include "runtime.h"

#include <algorithm>

#include "fused_activation.h"
#include "gemm.h"

namespace pydl::cuda {

namespace {

constexpr int kTileM = 128, kTileN = 128, kTileK = 16;  // block tile of C, and the K slice staged per step
constexpr int kThreadM = 8, kThreadN = 8;               // register tile of C per thread
constexpr int kThreadsN = kTileN / kThreadN;            // 16 threads across a tile's columns
constexpr int kThreadsM = kTileM / kThreadM;            // 16 threads across its rows
constexpr int kGemmThreads = kThreadsM * kThreadsN;     // 256
static_assert(kThreadsM == kThreadsN, "tile_row serves rows and columns alike");
constexpr int kRun = 4;  // a thread's rows and columns come in runs of 4: one 16-byte shared load each
constexpr int kPad = 4;  // shared rows padded so the transposing stores spread over the banks
constexpr int64_t kMaxGridYZ = 65535;

// The tile row (or column) of a thread's m-th register row (column), t its thread row (column).
__device__ __forceinline__ int tile_row(int t, int m) { return kRun * t + (m / kRun) * (kRun * kThreadsM) + m % kRun; }

// Thread (tx, ty) owns rows 4 ty + 64 h + r and columns 4 tx + 64 h + r of the tile (h < 2, r < 4): it
// reads each run of a staged row in one 16-byte load, a warp's loads from Bs cover 256 consecutive bytes
// (no bank conflicts; those from As are two broadcasts), and its stores to C 64 consecutive columns.
// float: at most 128 registers a thread (none spilled), so that two blocks share an SM and one's loads
// overlap the other's arithmetic.
template <typename T>
__global__ void __launch_bounds__(kGemmThreads, sizeof(T) == 4 ? 2 : 1) gemm_kernel(
    bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, int64_t stride_a,
    const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc, int64_t stride_c, GemmEpilogue<T> epilogue) {
  __shared__ __align__(16) T As[kTileK][kTileM + kPad];  // As[p][i] = op(A)(row0 + i, k0 + p)
  __shared__ __align__(16) T Bs[kTileK][kTileN + kPad];  // Bs[p][j] = op(B)(k0 + p, col0 + j)
  const int tid = threadIdx.x;
  const int tx = tid % kThreadsN, ty = tid / kThreadsN;
  const int64_t row0 = int64_t(blockIdx.x) * kTileM, col0 = int64_t(blockIdx.y) * kTileN;
  A += int64_t(blockIdx.z) * stride_a;
  B += int64_t(blockIdx.z) * stride_b;
  C += int64_t(blockIdx.z) * stride_c;

  T acc[kThreadM][kThreadN];
  for (int m = 0; m < kThreadM; ++m)
    for (int n = 0; n < kThreadN; ++n) acc[m][n] = T(0);

  for (int64_t k0 = 0; k0 < K; k0 += kTileK) {
    // Stage the slices, zero outside the matrices; consecutive threads read consecutive addresses
    // (along K for a row-major op(A), along M for a transposed one; likewise for B).
    for (int e = tid; e < kTileM * kTileK; e += kGemmThreads) {
      const int i = trans_a ? e % kTileM : e / kTileK, p = trans_a ? e / kTileM : e % kTileK;
      const int64_t gi = row0 + i, gp = k0 + p;
      As[p][i] = (gi < M && gp < K) ? A[trans_a ? gp * lda + gi : gi * lda + gp] : T(0);
    }
    for (int e = tid; e < kTileK * kTileN; e += kGemmThreads) {
      const int j = trans_b ? e / kTileK : e % kTileN, p = trans_b ? e % kTileK : e / kTileN;
      const int64_t gj = col0 + j, gp = k0 + p;
      Bs[p][j] = (gj < N && gp < K) ? B[trans_b ? gj * ldb + gp : gp * ldb + gj] : T(0);
    }
    __syncthreads();
#pragma unroll
    for (int p = 0; p < kTileK; ++p) {
      T a[kThreadM], b[kThreadN];
#pragma unroll
      for (int m = 0; m < kThreadM; ++m) a[m] = As[p][tile_row(ty, m)];
#pragma unroll
      for (int n = 0; n < kThreadN; ++n) b[n] = Bs[p][tile_row(tx, n)];
#pragma unroll
      for (int m = 0; m < kThreadM; ++m)
#pragma unroll
        for (int n = 0; n < kThreadN; ++n) acc[m][n] += a[m] * b[n];
    }
    __syncthreads();  // the next slice overwrites As and Bs
  }

#pragma unroll
  for (int m = 0; m < kThreadM; ++m) {
    const int64_t i = row0 + tile_row(ty, m);
#pragma unroll
    for (int n = 0; n < kThreadN; ++n) {
      const int64_t j = col0 + tile_row(tx, n);
      if (i >= M || j >= N) continue;
      T v = alpha * acc[m][n];
      if (beta != T(0)) v += beta * C[i * ldc + j];
      if (epilogue.bias) v += epilogue.bias[epilogue.bias_per_row ? i : j];
      C[i * ldc + j] = fused_activation(epilogue.act, v);
    }
  }
}

}  // namespace

template <typename T>
void gemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                  int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
                  int64_t stride_c, int64_t batch, GemmEpilogue<T> epilogue, cudaStream_t stream) {
  if (M <= 0 || N <= 0 || batch <= 0) return;
  // grid.y and grid.z stop at 65535: wider products go in column chunks, larger batches in batch chunks.
  const int64_t chunk_n = kMaxGridYZ * kTileN;
  for (int64_t b0 = 0; b0 < batch; b0 += kMaxGridYZ) {
    const int64_t nb = std::min(kMaxGridYZ, batch - b0);
    for (int64_t c0 = 0; c0 < N; c0 += chunk_n) {
      const int64_t nc = std::min(chunk_n, N - c0);
      GemmEpilogue<T> part = epilogue;
      if (part.bias && !part.bias_per_row) part.bias += c0;
      const dim3 grid(unsigned((M + kTileM - 1) / kTileM), unsigned((nc + kTileN - 1) / kTileN), unsigned(nb));
      PYDL_LAUNCH(gemm_kernel<T>, grid, kGemmThreads, stream, trans_a, trans_b, M, nc, K, alpha, A + b0 * stride_a, lda,
                  stride_a, B + b0 * stride_b + (trans_b ? c0 * ldb : c0), ldb, stride_b, beta,
                  C + b0 * stride_c + c0, ldc, stride_c, part);
    }
  }
}

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc, cudaStream_t stream) {
  gemm_batched(trans_a, trans_b, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1, GemmEpilogue<T>{}, stream);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t, cudaStream_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t, cudaStream_t);
template void gemm_batched<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t,
                                  const float*, int64_t, int64_t, float, float*, int64_t, int64_t, int64_t,
                                  GemmEpilogue<float>, cudaStream_t);
template void gemm_batched<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, int64_t,
                                   const double*, int64_t, int64_t, double, double*, int64_t, int64_t, int64_t,
                                   GemmEpilogue<double>, cudaStream_t);

}  // namespace pydl::cuda
