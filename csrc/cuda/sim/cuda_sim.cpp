// The simulator's scheduler (fibers, barriers, warp exchange) and its runtime API on host memory.
#include "cuda_sim.h"

#include <ucontext.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define PYDL_SIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PYDL_SIM_ASAN 1
#endif
#endif
#ifdef PYDL_SIM_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace pydl::sim {

thread_local const ThreadIds* current_ids = nullptr;

namespace {

// AddressSanitizer keeps redzones on fiber stacks too: give them room.
#ifdef PYDL_SIM_ASAN
constexpr size_t kStackBytes = 512 * 1024;
#else
constexpr size_t kStackBytes = 128 * 1024;
#endif
constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr int kWarp = 32;

enum class State { ready, at_block_barrier, at_warp_barrier, done };

// Why a launch stopped: raised inside the scheduler, never inside a fiber.
struct LaunchFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Fiber {
  ucontext_t context;
  ThreadIds ids;
  State state = State::ready;
  std::unique_ptr<char[]> stack;
#ifdef PYDL_SIM_ASAN
  void* fake_stack = nullptr;
#endif
};

struct Warp {
  uint64_t offers[kWarp];
};

}  // namespace

struct Block {
  std::vector<Fiber> fibers;
  std::vector<Warp> warps;
  ucontext_t scheduler;
  void (*body)(void*) = nullptr;
  void* user = nullptr;
  int running = -1;  // index of the fiber running now
#ifdef PYDL_SIM_ASAN
  void* scheduler_fake_stack = nullptr;
  const void* scheduler_stack_bottom = nullptr;
  size_t scheduler_stack_size = 0;
#endif
};

namespace {

thread_local Block* current_block = nullptr;

std::mutex order_mutex;
ThreadOrder order_setting = ThreadOrder::forward;
uint64_t order_seed = 0;

std::mutex error_mutex;
cudaError_t sticky_error = cudaSuccess;
std::string error_detail;

void set_error(cudaError_t error, const std::string& detail) {
  std::lock_guard<std::mutex> lock(error_mutex);
  sticky_error = error;
  error_detail = detail;
}

Fiber& running_fiber() { return current_block->fibers[current_block->running]; }

// Fiber -> scheduler. A finished fiber never comes back, so ASan may drop its fake stack.
void switch_to_scheduler(bool finished) {
  Block* block = current_block;
  Fiber& self = running_fiber();
#ifdef PYDL_SIM_ASAN
  __sanitizer_start_switch_fiber(finished ? nullptr : &self.fake_stack, block->scheduler_stack_bottom,
                                 block->scheduler_stack_size);
#endif
  swapcontext(&self.context, &block->scheduler);
#ifdef PYDL_SIM_ASAN
  __sanitizer_finish_switch_fiber(self.fake_stack, &block->scheduler_stack_bottom, &block->scheduler_stack_size);
#endif
}

void fiber_entry() {
  Block* block = current_block;
#ifdef PYDL_SIM_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &block->scheduler_stack_bottom, &block->scheduler_stack_size);
#endif
  block->body(block->user);
  running_fiber().state = State::done;
  switch_to_scheduler(true);
}

void wait_at(State barrier) {
  if (current_block == nullptr) throw std::logic_error("a CUDA barrier outside a kernel launch");
  running_fiber().state = barrier;
  switch_to_scheduler(false);
}

std::vector<int> phase_order(int n, ThreadOrder order, std::mt19937_64& rng) {
  std::vector<int> idx(n);
  for (int i = 0; i < n; ++i) idx[i] = i;
  if (order == ThreadOrder::reverse) std::reverse(idx.begin(), idx.end());
  if (order == ThreadOrder::shuffle) std::shuffle(idx.begin(), idx.end(), rng);
  return idx;
}

void resume(Block& block, int i) {
  Fiber& fiber = block.fibers[i];
  block.running = i;
  current_ids = &fiber.ids;
#ifdef PYDL_SIM_ASAN
  __sanitizer_start_switch_fiber(&block.scheduler_fake_stack, fiber.stack.get(), kStackBytes);
#endif
  swapcontext(&block.scheduler, &fiber.context);
#ifdef PYDL_SIM_ASAN
  __sanitizer_finish_switch_fiber(block.scheduler_fake_stack, nullptr, nullptr);
#endif
  current_ids = nullptr;
  block.running = -1;
}

// Releases the barriers every live thread of the block (or warp) waits at; false when nothing was waiting
// there, or raises when the threads can never meet (a barrier inside divergent code).
bool release_barriers(Block& block) {
  const int n = static_cast<int>(block.fibers.size());
  bool released = false;
  for (int w = 0; w * kWarp < n; ++w) {
    int waiting = 0, live = 0;
    for (int i = w * kWarp; i < std::min(n, (w + 1) * kWarp); ++i) {
      if (block.fibers[i].state == State::done) continue;
      ++live;
      waiting += block.fibers[i].state == State::at_warp_barrier;
    }
    if (live > 0 && waiting == live) {
      for (int i = w * kWarp; i < std::min(n, (w + 1) * kWarp); ++i) {
        if (block.fibers[i].state == State::at_warp_barrier) block.fibers[i].state = State::ready;
      }
      released = true;
    }
  }
  if (released) return true;
  int at_barrier = 0, done = 0;
  for (const Fiber& f : block.fibers) {
    at_barrier += f.state == State::at_block_barrier;
    done += f.state == State::done;
  }
  if (at_barrier == 0) return false;
  if (at_barrier + done == n && done == 0) {
    for (Fiber& f : block.fibers) f.state = State::ready;
    return true;
  }
  const Fiber& first = block.fibers[0];
  throw LaunchFailure("__syncthreads reached by " + std::to_string(at_barrier) + " of the " + std::to_string(n) +
                      " threads of block (" + std::to_string(first.ids.block_idx.x) + ", " +
                      std::to_string(first.ids.block_idx.y) + ", " + std::to_string(first.ids.block_idx.z) +
                      "); the others " + (done ? "had returned" : "wait at a warp primitive") +
                      " (a barrier in divergent code)");
}

std::vector<std::unique_ptr<char[]>>& stack_pool() {
  thread_local std::vector<std::unique_ptr<char[]>> pool;
  return pool;
}

// A context captured once per OS thread: makecontext needs an initialised one, and getcontext is a system call.
const ucontext_t& blank_context() {
  thread_local ucontext_t blank;
  thread_local bool captured = false;
  if (!captured) {
    getcontext(&blank);
    captured = true;
  }
  return blank;
}

void run_block(Block& block, ThreadOrder order, std::mt19937_64& rng) {
  const int n = static_cast<int>(block.fibers.size());
  for (int i = 0; i < n; ++i) {
    Fiber& fiber = block.fibers[i];
    fiber.state = State::ready;
    fiber.context = blank_context();
    fiber.context.uc_stack.ss_sp = fiber.stack.get();
    fiber.context.uc_stack.ss_size = kStackBytes;
    fiber.context.uc_link = nullptr;
    makecontext(&fiber.context, fiber_entry, 0);
  }
  for (;;) {
    for (int i : phase_order(n, order, rng)) {
      if (block.fibers[i].state == State::ready) resume(block, i);
    }
    bool all_done = true;
    for (const Fiber& f : block.fibers) all_done = all_done && f.state == State::done;
    if (all_done) return;
    if (!release_barriers(block)) throw LaunchFailure("a block's threads wait at barriers that cannot meet");
  }
}

}  // namespace

void syncthreads() { wait_at(State::at_block_barrier); }
void syncwarp() { wait_at(State::at_warp_barrier); }

int lane_id() { return current_block->running % kWarp; }

uint64_t warp_exchange(uint64_t bits, int src) {
  Block& block = *current_block;
  const int self = block.running;
  const int warp = self / kWarp;
  Warp& w = block.warps[warp];
  w.offers[self % kWarp] = bits;
  wait_at(State::at_warp_barrier);  // every lane has offered
  const int lanes = std::min<int>(kWarp, static_cast<int>(block.fibers.size()) - warp * kWarp);
  const uint64_t got = (src >= 0 && src < lanes) ? w.offers[src] : bits;
  wait_at(State::at_warp_barrier);  // every lane has read before the next exchange overwrites
  return got;
}

unsigned warp_ballot(bool predicate) {
  Block& block = *current_block;
  const int warp = block.running / kWarp;
  Warp& w = block.warps[warp];
  w.offers[block.running % kWarp] = predicate;
  wait_at(State::at_warp_barrier);
  const int lanes = std::min<int>(kWarp, static_cast<int>(block.fibers.size()) - warp * kWarp);
  unsigned mask = 0;
  for (int lane = 0; lane < lanes; ++lane) mask |= unsigned(w.offers[lane] != 0) << lane;
  wait_at(State::at_warp_barrier);
  return mask;
}

void set_thread_order(ThreadOrder order, uint64_t seed) {
  std::lock_guard<std::mutex> lock(order_mutex);
  order_setting = order;
  order_seed = seed;
}

ThreadOrder thread_order() {
  std::lock_guard<std::mutex> lock(order_mutex);
  return order_setting;
}

void run_grid(dim3 grid, dim3 block_dim, void (*body)(void*), void* user) {
  const uint64_t threads = uint64_t(block_dim.x) * block_dim.y * block_dim.z;
  const uint64_t blocks = uint64_t(grid.x) * grid.y * grid.z;
  if (threads == 0 || threads > kMaxThreadsPerBlock || blocks == 0 || block_dim.z > 64 || grid.y > 65535 ||
      grid.z > 65535) {
    set_error(cudaErrorInvalidConfiguration,
              "launch with grid (" + std::to_string(grid.x) + ", " + std::to_string(grid.y) + ", " +
                  std::to_string(grid.z) + ") and block (" + std::to_string(block_dim.x) + ", " +
                  std::to_string(block_dim.y) + ", " + std::to_string(block_dim.z) + ")");
    return;
  }
  if (current_block != nullptr) throw std::logic_error("a kernel launch from inside a kernel");
  ThreadOrder order;
  uint64_t seed;
  {
    std::lock_guard<std::mutex> lock(order_mutex);
    order = order_setting;
    seed = order_seed;
  }
  std::mt19937_64 rng(seed);

  auto& pool = stack_pool();
  while (pool.size() < threads) pool.emplace_back(new char[kStackBytes]);
  Block block;
  block.body = body;
  block.user = user;
  block.fibers.resize(threads);
  block.warps.resize((threads + kWarp - 1) / kWarp);
  for (size_t i = 0; i < threads; ++i) block.fibers[i].stack.reset(pool[i].release());

  current_block = &block;
  try {
    for (unsigned bz = 0; bz < grid.z; ++bz)
      for (unsigned by = 0; by < grid.y; ++by)
        for (unsigned bx = 0; bx < grid.x; ++bx) {
          size_t i = 0;
          for (unsigned tz = 0; tz < block_dim.z; ++tz)
            for (unsigned ty = 0; ty < block_dim.y; ++ty)
              for (unsigned tx = 0; tx < block_dim.x; ++tx, ++i) {
                block.fibers[i].ids = ThreadIds{{tx, ty, tz}, {bx, by, bz}, block_dim, grid};
              }
          run_block(block, order, rng);
        }
  } catch (const LaunchFailure& failure) {
    set_error(cudaErrorLaunchFailure, failure.what());
  }
  current_block = nullptr;
  for (size_t i = 0; i < threads; ++i) pool[i].reset(block.fibers[i].stack.release());
}

// ---- device memory: malloc'd host memory, registered by address ------------------------------------
namespace {

std::mutex memory_mutex;
std::map<const char*, size_t>& allocations() {
  static std::map<const char*, size_t> live;
  return live;
}

bool inside_allocation(const void* ptr, size_t bytes) {
  const char* p = static_cast<const char*>(ptr);
  std::lock_guard<std::mutex> lock(memory_mutex);
  auto& live = allocations();
  auto it = live.upper_bound(p);
  if (it == live.begin()) return false;
  --it;
  return p >= it->first && size_t(p - it->first) + bytes <= it->second;
}

cudaError_t fail(cudaError_t error, const std::string& detail) {
  set_error(error, detail);
  return error;
}

}  // namespace

bool is_device_memory(const void* ptr, size_t bytes) { return ptr != nullptr && inside_allocation(ptr, bytes); }

std::string last_error_detail() {
  std::lock_guard<std::mutex> lock(error_mutex);
  return error_detail;
}

}  // namespace pydl::sim

using pydl::sim::fail;
using pydl::sim::is_device_memory;

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (ptr == nullptr) return fail(cudaErrorInvalidValue, "cudaMalloc: null result pointer");
  // malloc(0) may return null; CUDA gives a distinct pointer for every allocation, so round up to one byte.
  void* p = std::malloc(bytes ? bytes : 1);
  if (p == nullptr) {
    return fail(cudaErrorMemoryAllocation, "cudaMalloc: out of memory for " + std::to_string(bytes) + " bytes");
  }
  {
    std::lock_guard<std::mutex> lock(pydl::sim::memory_mutex);
    pydl::sim::allocations()[static_cast<const char*>(p)] = bytes;
  }
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (ptr == nullptr) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(pydl::sim::memory_mutex);
    auto& live = pydl::sim::allocations();
    auto it = live.find(static_cast<const char*>(ptr));
    if (it == live.end()) {
      return fail(cudaErrorInvalidDevicePointer, "cudaFree of a pointer cudaMalloc did not return");
    }
    live.erase(it);
  }
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind == cudaMemcpyDefault) {
    std::memmove(dst, src, bytes);
    return cudaSuccess;
  }
  const std::string span = " is not " + std::to_string(bytes) + " bytes of device memory";
  std::string wrong;
  if (dst_device && !is_device_memory(dst, bytes)) wrong = "the destination" + span;
  else if (src_device && !is_device_memory(src, bytes)) wrong = "the source" + span;
  else if (!dst_device && is_device_memory(dst, 1)) wrong = "a host destination lies in device memory";
  else if (!src_device && is_device_memory(src, 1)) wrong = "a host source lies in device memory";
  if (!wrong.empty()) return fail(cudaErrorInvalidValue, "cudaMemcpy: " + wrong);
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, kind);
}

cudaError_t cudaMemset(void* ptr, int value, size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  if (!is_device_memory(ptr, bytes)) {
    return fail(cudaErrorInvalidValue, "cudaMemset: not " + std::to_string(bytes) + " bytes of device memory");
  }
  std::memset(ptr, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t) { return cudaMemset(ptr, value, bytes); }

// Launches run to completion when made, so streams have nothing to order or wait for.
cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  *stream = nullptr;
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaPeekAtLastError(); }
cudaError_t cudaDeviceSynchronize() { return cudaPeekAtLastError(); }

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetLastError() {
  std::lock_guard<std::mutex> lock(pydl::sim::error_mutex);
  const cudaError_t error = pydl::sim::sticky_error;
  pydl::sim::sticky_error = cudaSuccess;
  return error;
}

cudaError_t cudaPeekAtLastError() {
  std::lock_guard<std::mutex> lock(pydl::sim::error_mutex);
  return pydl::sim::sticky_error;
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
  }
  return "unknown error";
}
