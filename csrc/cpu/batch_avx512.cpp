// The accuracy count's loop compiled for AVX-512 (flags from CMakeLists.txt); entered only when cpu.h says so.
#include <cstdint>

namespace pydl::avx512 {
#include "batch_impl.h"
}  // namespace pydl::avx512
