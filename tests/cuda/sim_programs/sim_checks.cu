// Kernels that exercise the CUDA simulator, two of them broken on purpose, run by tests/cuda/test_simulator.py:
// `sim_checks CASE` runs one case and exits 0 when its result is right, 3 when it depends on the thread order,
// 4 when the launch failed (the message on stderr). Compiled with g++ against csrc/cuda/sim, with
// AddressSanitizer, so an out-of-bounds access is reported and aborts.
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "cuda/runtime.h"

namespace {

constexpr int kBlock = 64;

// Sum of each block's 64 values by a shared-memory tree: one barrier per level.
__global__ void block_sum(const float* x, float* out) {
  __shared__ float partial[kBlock];
  const int t = threadIdx.x;
  partial[t] = x[blockIdx.x * kBlock + t];
  __syncthreads();
  for (int stride = kBlock / 2; stride > 0; stride /= 2) {
    if (t < stride) partial[t] += partial[t + stride];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = partial[0];
}

// The same tree with its barriers forgotten: a thread may read a partner's slot before the partner wrote it.
__global__ void block_sum_missing_barrier(const float* x, float* out) {
  __shared__ float partial[kBlock];
  const int t = threadIdx.x;
  partial[t] = x[blockIdx.x * kBlock + t];
  for (int stride = kBlock / 2; stride > 0; stride /= 2) {
    if (t < stride) partial[t] += partial[t + stride];
  }
  if (t == 0) out[blockIdx.x] = partial[0];
}

// Each warp sums its lanes with shuffles; lane 0 writes the warp's sum.
__global__ void warp_sum(const float* x, float* out) {
  float v = x[blockIdx.x * blockDim.x + threadIdx.x];
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  if (threadIdx.x % 32 == 0) out[(blockIdx.x * blockDim.x + threadIdx.x) / 32] = v;
}

__global__ void count_positive(const float* x, int n, int* count, unsigned* ballots) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const bool positive = i < n && x[i] > 0;
  const unsigned mask = __ballot_sync(0xffffffffu, positive);
  if (threadIdx.x % 32 == 0) ballots[i / 32] = mask;
  if (positive) atomicAdd(count, 1);
}

// Writes one element past the end of its n-element buffer.
__global__ void write_past_end(float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) out[i] = 1.0f;
}

// A barrier only half of the block reaches.
__global__ void divergent_barrier(float* out) {
  if (threadIdx.x < 16) __syncthreads();
  out[threadIdx.x] = 1.0f;
}

template <typename T>
T* device_copy(const std::vector<T>& host) {
  T* d = nullptr;
  PYDL_CUDA_CHECK(cudaMalloc(&d, host.size() * sizeof(T)));
  PYDL_CUDA_CHECK(cudaMemcpy(d, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

template <typename T>
std::vector<T> host_copy(const T* d, size_t n) {
  std::vector<T> host(n);
  PYDL_CUDA_CHECK(cudaMemcpy(host.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
  return host;
}

std::vector<float> inputs(int n) {
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) x[i] = float((i * 37) % 11) - 5.0f;  // exact in float: sums do not round
  return x;
}

// Runs `launch` under every thread order; 3 when the outputs differ, 4 when a launch failed.
int run_under_every_order(const std::function<std::vector<float>()>& launch, const std::vector<float>& expected) {
  using pydl::sim::ThreadOrder;
  const std::pair<ThreadOrder, uint64_t> orders[] = {
      {ThreadOrder::forward, 0}, {ThreadOrder::reverse, 0}, {ThreadOrder::shuffle, 1}, {ThreadOrder::shuffle, 2}};
  std::vector<float> first;
  bool differs = false;
  for (auto [order, seed] : orders) {
    pydl::sim::set_thread_order(order, seed);
    std::vector<float> got = launch();
    const cudaError_t status = cudaGetLastError();
    if (status != cudaSuccess) {
      std::fprintf(stderr, "launch failed: %s (%s)\n", cudaGetErrorString(status), pydl::sim::last_error_detail().c_str());
      return 4;
    }
    if (first.empty()) first = got;
    differs = differs || got != first || got != expected;
  }
  if (differs) {
    std::fprintf(stderr, "the result depends on the order of the block's threads: a missing __syncthreads?\n");
    return 3;
  }
  return 0;
}

std::vector<float> block_sums(int blocks) {
  const std::vector<float> x = inputs(blocks * kBlock);
  std::vector<float> sums(blocks, 0.0f);
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < kBlock; ++t) sums[b] += x[b * kBlock + t];
  return sums;
}

int reduce_case(bool with_barrier) {
  const int blocks = 3;
  float* x = device_copy(inputs(blocks * kBlock));
  float* out = device_copy(std::vector<float>(blocks, 0.0f));
  const int rc = run_under_every_order([&] {
    if (with_barrier) PYDL_LAUNCH(block_sum, blocks, kBlock, nullptr, x, out);
    else PYDL_LAUNCH(block_sum_missing_barrier, blocks, kBlock, nullptr, x, out);
    return host_copy(out, blocks);
  }, block_sums(blocks));
  cudaFree(x);
  cudaFree(out);
  return rc;
}

int warp_case() {
  const int n = 96;  // three warps of one block
  const std::vector<float> host = inputs(n);
  std::vector<float> expected(3, 0.0f);
  for (int i = 0; i < n; ++i) expected[i / 32] += host[i];
  float* x = device_copy(host);
  float* out = device_copy(std::vector<float>(3, 0.0f));
  const int rc = run_under_every_order([&] {
    PYDL_LAUNCH(warp_sum, 1, n, nullptr, x, out);
    return host_copy(out, 3);
  }, expected);
  cudaFree(x);
  cudaFree(out);
  return rc;
}

int ballot_and_atomics_case() {
  const int n = 200, threads = 64, blocks = (n + threads - 1) / threads;
  const std::vector<float> host = inputs(n);
  float* x = device_copy(host);
  int* count = device_copy(std::vector<int>(1, 0));
  unsigned* ballots = device_copy(std::vector<unsigned>(blocks * threads / 32, 0u));
  PYDL_LAUNCH(count_positive, blocks, threads, nullptr, x, n, count, ballots);
  const int got = host_copy(count, 1)[0];
  const std::vector<unsigned> masks = host_copy(ballots, blocks * threads / 32);
  int expected = 0, from_masks = 0;
  for (float v : host) expected += v > 0;
  for (unsigned m : masks) from_masks += __builtin_popcount(m);
  cudaFree(x);
  cudaFree(count);
  cudaFree(ballots);
  return got == expected && from_masks == expected ? 0 : 1;
}

int out_of_bounds_case() {
  const int n = 100;
  float* out = nullptr;
  PYDL_CUDA_CHECK(cudaMalloc(&out, n * sizeof(float)));
  PYDL_LAUNCH(write_past_end, 2, 64, nullptr, out, n);
  cudaFree(out);
  return 0;
}

int divergent_barrier_case() {
  float* out = device_copy(std::vector<float>(32, 0.0f));
  const int rc = run_under_every_order([&] {
    PYDL_LAUNCH(divergent_barrier, 1, 32, nullptr, out);
    return host_copy(out, 32);
  }, std::vector<float>(32, 1.0f));
  cudaFree(out);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string name = argc > 1 ? argv[1] : "";
  if (name == "barrier") return reduce_case(true);
  if (name == "missing_barrier") return reduce_case(false);
  if (name == "warp_shuffle") return warp_case();
  if (name == "ballot_and_atomics") return ballot_and_atomics_case();
  if (name == "out_of_bounds") return out_of_bounds_case();
  if (name == "divergent_barrier") return divergent_barrier_case();
  std::fprintf(stderr, "unknown case '%s'\n", name.c_str());
  return 2;
}
