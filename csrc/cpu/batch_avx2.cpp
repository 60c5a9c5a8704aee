// The accuracy count's loop compiled for AVX2 (flags from CMakeLists.txt); entered only when cpu.h says so.
#include <cstdint>

namespace pydl::avx2 {
#include "batch_impl.h"
}  // namespace pydl::avx2
