// Batch kernels of the training loop (twins: pydl/reference/batch.py, csrc/cpu/batch.cpp).
//   index_check    index (count) -> the first position whose value lies outside [0, rows), or none
//   gather_rows    x (rows, row_elems), index (count) -> y (count, row_elems), y[i] = x[index[i]]
//   count_correct  output (n, cols), labels (n) -> counter += rows whose prediction equals their label
#include "runtime.h"

#include "batch.h"

namespace pydl::cuda {
namespace {

constexpr unsigned long long kNone = ~0ull;  // no bad position found

// *first = min(*first, v): the smallest bad position, whatever order threads find them in.
__device__ __forceinline__ void atomic_min_u64(unsigned long long* first, unsigned long long v) {
  unsigned long long seen = kNone;
  while (v < seen) {
    const unsigned long long prev = atomicCAS(first, seen, v);
    if (prev == seen) break;
    seen = prev;
  }
}

__global__ void index_check_kernel(const int64_t* index, int64_t count, int64_t rows, unsigned long long* first) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = index[i];
    if (r < 0 || r >= rows) atomic_min_u64(first, (unsigned long long)i);
  }
}

template <typename E>
__global__ void gather_rows_kernel(const E* x, const int64_t* index, E* y, int64_t count, int64_t row_elems) {
  const int64_t total = count * row_elems;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < total; k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = k / row_elems;
    y[k] = x[index[i] * row_elems + (k - i * row_elems)];
  }
}

// The first maximum, NaN counting as the maximum (np.argmax), as csrc/cpu/batch.cpp.
template <typename T>
__device__ int64_t argmax_row(const T* row, int64_t cols) {
  if (row[0] != row[0]) return 0;
  int64_t best = 0;
  for (int64_t c = 1; c < cols; ++c) {
    if (row[c] != row[c]) return c;
    if (row[c] > row[best]) best = c;
  }
  return best;
}

// One thread per row; the block's hits summed in shared memory, then one integer atomic per block
// (an integer sum does not depend on the order).
template <typename T>
__global__ void count_correct_kernel(const T* output, const int64_t* labels, int64_t n, int64_t cols, T threshold,
                                     unsigned long long* counter) {
  __shared__ unsigned long long hits[kThreads];
  unsigned long long mine = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t predicted = cols == 1 ? int64_t(output[i] > threshold) : argmax_row(output + i * cols, cols);
    mine += predicted == labels[i];
  }
  hits[threadIdx.x] = mine;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) hits[threadIdx.x] += hits[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0 && hits[0] != 0) atomicAdd(counter, hits[0]);
}

}  // namespace

int64_t first_index_out_of_range(const int64_t* index, int64_t count, int64_t rows, int64_t* value,
                                 cudaStream_t stream) {
  unsigned long long* first = nullptr;
  PYDL_CUDA_CHECK(cudaMalloc(&first, sizeof(unsigned long long)));
  unsigned long long host = kNone;
  PYDL_CUDA_CHECK(cudaMemsetAsync(first, 0xFF, sizeof(unsigned long long), stream));
  PYDL_LAUNCH(index_check_kernel, grid_for(count), kThreads, stream, index, count, rows, first);
  cudaError_t copied = cudaMemcpy(&host, first, sizeof(host), cudaMemcpyDeviceToHost);
  cudaFree(first);
  PYDL_CUDA_CHECK(copied);
  if (host == kNone) return -1;
  PYDL_CUDA_CHECK(cudaMemcpy(value, index + host, sizeof(int64_t), cudaMemcpyDeviceToHost));  // for the message
  return int64_t(host);
}

template <typename E>
void gather_rows(const E* x, const int64_t* index, E* y, int64_t count, int64_t row_elems, cudaStream_t stream) {
  PYDL_LAUNCH(gather_rows_kernel<E>, grid_for(count * row_elems), kThreads, stream, x, index, y, count, row_elems);
}

template <typename T>
void count_correct_into(const T* output, const int64_t* labels, int64_t n, int64_t cols, double threshold,
                        unsigned long long* counter, cudaStream_t stream) {
  PYDL_LAUNCH(count_correct_kernel<T>, grid_for(n), kThreads, stream, output, labels, n, cols, T(threshold), counter);
}

template <typename T>
int64_t count_correct(const T* output, const int64_t* labels, int64_t n, int64_t cols, double threshold,
                      cudaStream_t stream) {
  unsigned long long* counter = nullptr;
  PYDL_CUDA_CHECK(cudaMalloc(&counter, sizeof(unsigned long long)));
  unsigned long long host = 0;
  PYDL_CUDA_CHECK(cudaMemsetAsync(counter, 0, sizeof(unsigned long long), stream));
  count_correct_into(output, labels, n, cols, threshold, counter, stream);
  const cudaError_t copied = cudaMemcpy(&host, counter, sizeof(host), cudaMemcpyDeviceToHost);
  cudaFree(counter);
  PYDL_CUDA_CHECK(copied);
  return int64_t(host);
}

template void gather_rows<float>(const float*, const int64_t*, float*, int64_t, int64_t, cudaStream_t);
template void gather_rows<double>(const double*, const int64_t*, double*, int64_t, int64_t, cudaStream_t);
template void gather_rows<int64_t>(const int64_t*, const int64_t*, int64_t*, int64_t, int64_t, cudaStream_t);
template void count_correct_into<float>(const float*, const int64_t*, int64_t, int64_t, double, unsigned long long*,
                                        cudaStream_t);
template void count_correct_into<double>(const double*, const int64_t*, int64_t, int64_t, double,
                                         unsigned long long*, cudaStream_t);
template int64_t count_correct<float>(const float*, const int64_t*, int64_t, int64_t, double, cudaStream_t);
template int64_t count_correct<double>(const double*, const int64_t*, int64_t, int64_t, double, cudaStream_t);

}  // namespace pydl::cuda
