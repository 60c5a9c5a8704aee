// BCE's loop compiled for AVX-512 (flags from CMakeLists.txt); entered only when cpu.h says so.
#include <algorithm>
#include <cstdint>
#include <limits>

namespace pydl::avx512 {
#include "losses_impl.h"
}  // namespace pydl::avx512
