// Inverted dropout with masks from a counter-based generator: element i of a call with seed s is kept when
// bits(s, i) >= p * 2^32, bits being one 32-bit half of SplitMix64's output for (mix(s), i / 2) (the high half
// for even i). A mask depends only on (seed, element index): the same on any thread count, in the plan and in
// the layer's Python forward.
#pragma once
#include <cstdint>

namespace pydl {

// mask[i] = bits(seed, i) >= p * 2^32 ? 1 / (1 - p) : 0; y = x * mask. 0 <= p < 1; y may be x.
template <typename T> void dropout_forward(const T* x, T* y, T* mask, int64_t n, double p, uint64_t seed);
// dx = dy * mask; dx may be dy.
template <typename T> void dropout_backward(const T* dy, const T* mask, T* dx, int64_t n);

}  // namespace pydl
