// The 2x2 max pooling loops in 256-bit vectors, compiled with the AVX2 flags of CMakeLists.txt; entered
// only when cpu.h says so.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "pool2d_fast.h"

namespace pydl::avx2 {
#include "pool2d_vec256.h"
#include "pool2d_impl.h"
}  // namespace pydl::avx2
