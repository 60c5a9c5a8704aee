// The narrow dense loops compiled for AVX2 (flags from CMakeLists.txt); entered only when cpu.h says so.
#include <cstdint>

namespace pydl::avx2_narrow {
#include "dense_narrow_impl.h"
}  // namespace pydl::avx2_narrow
