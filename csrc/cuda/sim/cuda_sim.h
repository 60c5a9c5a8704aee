// A CPU simulator of the CUDA execution model, so that csrc/cuda/*.cu compile with g++ and run in CI.
//
// Blocks run one after another on the calling thread; each CUDA thread of a block is a fiber (ucontext).
// A thread runs until it reaches a barrier (__syncthreads, or a warp primitive's warp barrier) or ends;
// when every thread of the block (or warp) waits there, they are released. Between barriers the threads
// run in the order set by set_thread_order: forward, reversed, or a seeded shuffle redrawn at every
// barrier, so a kernel missing a barrier gives order-dependent results. __shared__ variables are static
// thread-local storage, shared by the fibers of the block running on this OS thread. Device memory is
// host memory from malloc (AddressSanitizer sees every access), registered so that runtime calls given a
// pointer that is not device memory fail as CUDA's would. Launch errors (a barrier reached by only part
// of a block, a bad launch configuration) become the sticky error cudaGetLastError reports.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>

// ---- language: qualifiers and built-ins -------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// Block-local storage: the fibers of one block share this OS thread's copy; blocks run one at a time.
#define __shared__ static thread_local

using std::max;
using std::min;

struct uint3 {
  unsigned x, y, z;
};

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

namespace pydl::sim {

struct Block;

// What a simulated thread sees as threadIdx, blockIdx, blockDim and gridDim.
struct ThreadIds {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
};

// The simulated thread running now on this OS thread (set by the scheduler before each switch).
extern thread_local const ThreadIds* current_ids;

void syncthreads();
void syncwarp();
// Every lane of the warp offers `bits`; returns lane `src`'s offer (its own when src is outside the warp).
uint64_t warp_exchange(uint64_t bits, int src);
// The lanes' predicates as a bit mask (bit i: lane i).
unsigned warp_ballot(bool predicate);
int lane_id();

enum class ThreadOrder { forward, reverse, shuffle };
void set_thread_order(ThreadOrder order, uint64_t seed);
ThreadOrder thread_order();

// Runs the grid: body(user) once per simulated thread. Errors become the sticky launch error.
void run_grid(dim3 grid, dim3 block, void (*body)(void*), void* user);

template <class T>
uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= sizeof(uint64_t), "warp exchange of values up to 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  return bits;
}

template <class T>
T from_bits(uint64_t bits) {
  T v;
  std::memcpy(&v, &bits, sizeof(T));
  return v;
}

// A kernel launch: the arguments are converted to the kernel's parameter types once, as CUDA does.
template <class... Params, class... Args>
void launch(dim3 grid, dim3 block, void (*kernel)(Params...), Args&&... args) {
  struct Call {
    void (*kernel)(Params...);
    std::tuple<std::decay_t<Params>...> params;
  } call{kernel, std::tuple<std::decay_t<Params>...>(std::forward<Args>(args)...)};
  run_grid(grid, block, [](void* user) {
    auto* c = static_cast<Call*>(user);
    std::apply(c->kernel, c->params);
  }, &call);
}

}  // namespace pydl::sim

#define threadIdx (::pydl::sim::current_ids->thread_idx)
#define blockIdx (::pydl::sim::current_ids->block_idx)
#define blockDim (::pydl::sim::current_ids->block_dim)
#define gridDim (::pydl::sim::current_ids->grid_dim)
#define warpSize 32

inline void __syncthreads() { ::pydl::sim::syncthreads(); }
inline void __syncwarp(unsigned = 0xffffffffu) { ::pydl::sim::syncwarp(); }
inline void __threadfence() {}
inline void __threadfence_block() {}

template <class T>
T __shfl_sync(unsigned, T v, int src_lane, int width = 32) {
  const int lane = ::pydl::sim::lane_id();
  const int src = (lane & ~(width - 1)) + (src_lane & (width - 1));
  return ::pydl::sim::from_bits<T>(::pydl::sim::warp_exchange(::pydl::sim::to_bits(v), src));
}
template <class T>
T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
  const int lane = ::pydl::sim::lane_id();
  const int src = (lane & (width - 1)) + int(delta) < width ? lane + int(delta) : lane;
  return ::pydl::sim::from_bits<T>(::pydl::sim::warp_exchange(::pydl::sim::to_bits(v), src));
}
template <class T>
T __shfl_up_sync(unsigned, T v, unsigned delta, int width = 32) {
  const int lane = ::pydl::sim::lane_id();
  const int src = (lane & (width - 1)) >= int(delta) ? lane - int(delta) : lane;
  return ::pydl::sim::from_bits<T>(::pydl::sim::warp_exchange(::pydl::sim::to_bits(v), src));
}
template <class T>
T __shfl_xor_sync(unsigned, T v, int lane_mask, int width = 32) {
  const int lane = ::pydl::sim::lane_id();
  const int src = (lane ^ lane_mask) < ((lane & ~(width - 1)) + width) ? lane ^ lane_mask : lane;
  return ::pydl::sim::from_bits<T>(::pydl::sim::warp_exchange(::pydl::sim::to_bits(v), src));
}
// Correctly rounded reciprocals: 1 / x in IEEE arithmetic, as on the device.
inline float __frcp_rn(float x) { return 1.0f / x; }
inline double __drcp_rn(double x) { return 1.0 / x; }

inline unsigned __ballot_sync(unsigned, int predicate) { return ::pydl::sim::warp_ballot(predicate != 0); }
inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
inline int __all_sync(unsigned mask, int predicate) {
  return __ballot_sync(mask, !predicate) == 0;
}

// ---- atomics: real atomics, since two host threads may launch kernels at once -------------------------
template <class T>
T pydl_sim_atomic_update(T* address, T (*update)(T, T), T value) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "atomics on 4- and 8-byte values");
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  Bits* word = reinterpret_cast<Bits*>(address);
  Bits expected = __atomic_load_n(word, __ATOMIC_RELAXED);
  for (;;) {
    T old;
    std::memcpy(&old, &expected, sizeof(T));
    const T next = update(old, value);
    Bits desired;
    std::memcpy(&desired, &next, sizeof(T));
    if (__atomic_compare_exchange_n(word, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) return old;
  }
}
template <class T>
T atomicAdd(T* address, T value) {
  return pydl_sim_atomic_update<T>(address, [](T a, T b) { return T(a + b); }, value);
}
inline int atomicMax(int* address, int value) {
  return pydl_sim_atomic_update<int>(address, [](int a, int b) { return a > b ? a : b; }, value);
}
inline int atomicMin(int* address, int value) {
  return pydl_sim_atomic_update<int>(address, [](int a, int b) { return a < b ? a : b; }, value);
}
template <class T>
T atomicExch(T* address, T value) {
  return pydl_sim_atomic_update<T>(address, [](T, T b) { return b; }, value);
}
template <class T>
T atomicCAS(T* address, T compare, T value) {
  __atomic_compare_exchange_n(address, &compare, value, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return compare;
}

// ---- runtime API, on host memory -------------------------------------------------------------------
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorLaunchFailure = 719,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
struct CUstream_st;
using cudaStream_t = CUstream_st*;

cudaError_t cudaMalloc(void** ptr, size_t bytes);
template <class T>
cudaError_t cudaMalloc(T** ptr, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), bytes);
}
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* ptr, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream = nullptr);
cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorString(cudaError_t error);

namespace pydl::sim {
// True when [ptr, ptr + bytes) lies inside one live device allocation.
bool is_device_memory(const void* ptr, size_t bytes);
// What went wrong in the last failed launch (empty when nothing did).
std::string last_error_detail();
}  // namespace pydl::sim
