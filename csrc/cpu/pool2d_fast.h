// The 2x2 / stride 2 / no-padding max pooling of pool2d.cpp, compiled per instruction set (pool2d_impl.h
// in pool2d.cpp and pool2d_avx2.cpp, which AVX-512 CPUs run too); each works on the planes [p0, p1) and returns the
// kPoolNaN / kPoolOutside flags of conv.h for what it met in its inputs.
#pragma once
#include <cstdint>

#include "conv.h"

namespace pydl {

// A chunk's argmax lies outside its output's 2x2 block (the plane falls back to the general scatter).
constexpr int kPoolMisplaced = 4;

// Whether max_pool2d_forward may take the 2x2 path (window indices are formed in int32 within a row pair).
inline bool max_pool2x2_applies(const PoolGeom& g) {
  return g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 && g.w < (int64_t(1) << 30);
}

// Whether max_pool2d_backward may try the 2x2 blocks: each output (oh, ow) owns the input block at
// (2 oh, 2 ow), so a plane whose every argmax lies in its output's block gets dx written without a zero fill.
inline bool max_unpool2x2_may_apply(const PoolGeom& g) { return 2 * g.ho <= g.h && 2 * g.wo <= g.w; }

#define PYDL_POOL2X2_DECLARE(isa)                                                                              \
  namespace isa {                                                                                              \
  int max_pool2x2(const PoolGeom& g, const float* x, float* y, int64_t* argmax, int64_t p0, int64_t p1);      \
  int max_pool2x2(const PoolGeom& g, const double* x, double* y, int64_t* argmax, int64_t p0, int64_t p1);    \
  int max_unpool2x2(const PoolGeom& g, const float* dy, const int64_t* argmax, float* dx, int64_t p0,          \
                    int64_t p1);                                                                              \
  int max_unpool2x2(const PoolGeom& g, const double* dy, const int64_t* argmax, double* dx, int64_t p0,        \
                    int64_t p1);                                                                              \
  }
PYDL_POOL2X2_DECLARE(generic)
#ifdef PYDL_X86
PYDL_POOL2X2_DECLARE(avx2)
#endif
#undef PYDL_POOL2X2_DECLARE

}  // namespace pydl
