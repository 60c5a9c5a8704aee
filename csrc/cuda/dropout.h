// Dropout on device memory (launch only: the bindings validate). Element i of a call with seed s is kept
// when bits(s, i) >= p * 2^32, bits being one 32-bit half of SplitMix64's output for (mix(s), i / 2), the
// high half for even i: the masks of csrc/cpu/dropout.h, bit for bit.
#pragma once
#include <cstdint>

#include "runtime.h"

namespace pydl::cuda {

// mask[i] = bits(seed, i) >= p * 2^32 ? 1 / (1 - p) : 0; y = x * mask. 0 <= p < 1; y may be x.
template <typename T>
void dropout_forward(const T* x, T* y, T* mask, int64_t n, double p, uint64_t seed, cudaStream_t stream);
// dx = dy * mask; dx may be dy or mask.
template <typename T>
void dropout_backward(const T* dy, const T* mask, T* dx, int64_t n, cudaStream_t stream);

}  // namespace pydl::cuda
