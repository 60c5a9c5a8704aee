// The dropout mask loop compiled for AVX2 (flags from CMakeLists.txt); entered only when cpu.h says so.
#include <cstdint>

namespace pydl::avx2_dropout {
#include "dropout_impl.h"
}  // namespace pydl::avx2_dropout
