// Value checks behind the bindings' NaN/inf, range and label checks, float32 and float64 inputs.
// Two levels, like the loss sums: per-block partials, then one block over the partials.
//   summary_kernel         x (n)                  -> partial (blocks, 3): {NaN 2 / inf 1 / 0, -min, max}
//   summary_finish_kernel  partial (blocks, 3)    -> out (3): {status, min, max}
//   labels_kernel          labels (n), classes    -> partial (blocks): first index out of [0, classes), or n
//   labels_finish_kernel   partial (blocks)       -> out (2): {first bad index or n, its label}
#include "runtime.h"

#include <cfloat>

#include "device_math.h"
#include "value_checks.h"

namespace pydl::cuda {
namespace {

// The maxima of a, b and c over the block's threads (the minimum travels as -min), in a tree;
// every thread gets them. Needs blockDim.x == kThreads and three __shared__ arrays of kThreads doubles.
__device__ void block_max3(double* sa, double* sb, double* sc, double* a, double* b, double* c) {
  const int t = threadIdx.x;
  sa[t] = *a, sb[t] = *b, sc[t] = *c;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (t < half) {
      sa[t] = dfmax(sa[t], sa[t + half]);
      sb[t] = dfmax(sb[t], sb[t + half]);
      sc[t] = dfmax(sc[t], sc[t + half]);
    }
    __syncthreads();
  }
  *a = sa[0], *b = sb[0], *c = sc[0];
}

template <typename T>
__global__ void summary_kernel(const T* __restrict__ x, int64_t n, double* __restrict__ partial) {
  __shared__ double s_status[kThreads];
  __shared__ double s_neg_lo[kThreads];
  __shared__ double s_hi[kThreads];
  // Every block holds at least one element: its first seeds the extremes of all its threads.
  const double first = double(x[int64_t(blockIdx.x) * kThreads]);
  double status = 0, neg_lo = -first, hi = first;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n; i += int64_t(gridDim.x) * kThreads) {
    const double v = double(x[i]);
    if (v != v) {
      status = 2;
    } else if (dfabs(v) > DBL_MAX) {
      status = dfmax(status, 1.0);
    } else {
      neg_lo = dfmax(neg_lo, -v);
      hi = dfmax(hi, v);
    }
  }
  block_max3(s_status, s_neg_lo, s_hi, &status, &neg_lo, &hi);
  if (threadIdx.x == 0) {
    partial[3 * blockIdx.x] = status;
    partial[3 * blockIdx.x + 1] = neg_lo;
    partial[3 * blockIdx.x + 2] = hi;
  }
}

__global__ void summary_finish_kernel(const double* __restrict__ partial, int count, double* __restrict__ out) {
  __shared__ double s_status[kThreads];
  __shared__ double s_neg_lo[kThreads];
  __shared__ double s_hi[kThreads];
  double status = 0, neg_lo = partial[1], hi = partial[2];
  for (int b = threadIdx.x; b < count; b += kThreads) {
    status = dfmax(status, partial[3 * b]);
    neg_lo = dfmax(neg_lo, partial[3 * b + 1]);
    hi = dfmax(hi, partial[3 * b + 2]);
  }
  block_max3(s_status, s_neg_lo, s_hi, &status, &neg_lo, &hi);
  if (threadIdx.x == 0) {
    out[0] = status;
    out[1] = -neg_lo;
    out[2] = hi;
  }
}

// The smallest v over the block's threads, in a tree; every thread gets it.
__device__ int64_t block_min(int64_t* s, int64_t v) {
  s[threadIdx.x] = v;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half && s[threadIdx.x + half] < s[threadIdx.x]) s[threadIdx.x] = s[threadIdx.x + half];
    __syncthreads();
  }
  return s[0];
}

__global__ void labels_kernel(const int64_t* __restrict__ labels, int64_t n, int64_t classes,
                              int64_t* __restrict__ partial) {
  __shared__ int64_t s_first[kThreads];
  int64_t first = n;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n; i += int64_t(gridDim.x) * kThreads) {
    if ((labels[i] < 0 || labels[i] >= classes) && i < first) first = i;
  }
  first = block_min(s_first, first);
  if (threadIdx.x == 0) partial[blockIdx.x] = first;
}

__global__ void labels_finish_kernel(const int64_t* __restrict__ labels, const int64_t* __restrict__ partial,
                                     int count, int64_t n, int64_t* __restrict__ out) {
  __shared__ int64_t s_first[kThreads];
  int64_t first = n;
  for (int b = threadIdx.x; b < count; b += kThreads) first = partial[b] < first ? partial[b] : first;
  first = block_min(s_first, first);
  if (threadIdx.x == 0) {
    out[0] = first;
    out[1] = first < n ? labels[first] : 0;
  }
}

}  // namespace

template <typename T>
void value_summary(const T* x, int64_t n, double* out, double* workspace, cudaStream_t stream) {
  const int blocks = grid_for(n);
  PYDL_LAUNCH(summary_kernel<T>, blocks, kThreads, stream, x, n, workspace);
  PYDL_LAUNCH(summary_finish_kernel, 1, kThreads, stream, workspace, blocks, out);
}

void first_bad_label(const int64_t* labels, int64_t n, int64_t classes, int64_t* out, int64_t* workspace,
                     cudaStream_t stream) {
  const int blocks = grid_for(n);
  PYDL_LAUNCH(labels_kernel, blocks, kThreads, stream, labels, n, classes, workspace);
  PYDL_LAUNCH(labels_finish_kernel, 1, kThreads, stream, labels, workspace, blocks, n, out);
}

template void value_summary<float>(const float*, int64_t, double*, double*, cudaStream_t);
template void value_summary<double>(const double*, int64_t, double*, double*, cudaStream_t);

}  // namespace pydl::cuda
