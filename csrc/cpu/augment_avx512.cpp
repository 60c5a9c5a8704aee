// The augmentation loop compiled for AVX512 (flags from CMakeLists.txt); entered only when cpu.h says so.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "augment.h"

namespace pydl::avx512 {
#include "augment_impl.h"
}  // namespace pydl::avx512
