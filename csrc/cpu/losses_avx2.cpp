// BCE's loop compiled for AVX2 (flags from CMakeLists.txt); entered only when cpu.h says so.
#include <algorithm>
#include <cstdint>
#include <limits>

namespace pydl::avx2 {
#include "losses_impl.h"
}  // namespace pydl::avx2
