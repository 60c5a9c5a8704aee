// What every .cu file includes first: the CUDA runtime API, real under nvcc (and in the CUDA module's
// bindings), the simulator's under PYDL_CUDA_SIM; the launch macro; error checks; 1-D grid sizes.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#ifdef PYDL_CUDA_SIM
#include "sim/cuda_sim.h"
// `kernel` must contain no comma (alias a template of two or more parameters).
#define PYDL_LAUNCH(kernel, grid, block, stream, ...) ::pydl::sim::launch(dim3(grid), dim3(block), kernel, __VA_ARGS__)
#else
#include <cuda_runtime.h>
#define PYDL_LAUNCH(kernel, grid, block, stream, ...) kernel<<<(grid), (block), 0, (stream)>>>(__VA_ARGS__)
#endif

namespace pydl::cuda {

// A failed runtime call becomes a C++ exception (a RuntimeError in Python) naming the call.
inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

// Threads per block of the 1-D kernels, and enough blocks for n elements in a grid-stride loop, capped:
// beyond the cap each thread strides further. The simulator's low cap keeps its fibers few and makes
// every test walk the stride loops that on a GPU only huge arrays reach.
constexpr int kThreads = 256;
#ifdef PYDL_CUDA_SIM
constexpr int64_t kMaxBlocks = 8;
#else
constexpr int64_t kMaxBlocks = 4096;
#endif
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > kMaxBlocks ? kMaxBlocks : blocks));
}

}  // namespace pydl::cuda

#define PYDL_CUDA_CHECK(expr) ::pydl::cuda::check((expr), #expr)
