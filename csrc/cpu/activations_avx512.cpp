// The element-wise loops compiled for AVX512 (flags from CMakeLists.txt); entered only when cpu.h says so.
#include <cstdint>

namespace pydl::avx512 {
#include "elementwise_impl.h"
}  // namespace pydl::avx512
