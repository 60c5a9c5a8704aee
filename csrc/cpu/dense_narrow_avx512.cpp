// The narrow dense loops compiled for AVX512 (flags from CMakeLists.txt); entered only when cpu.h says so.
#include <immintrin.h>

#include <cstdint>
#include <type_traits>

namespace pydl::avx512_narrow {
#include "dense_narrow_impl.h"
}  // namespace pydl::avx512_narrow
