// The optimizer loops compiled for AVX512 (flags from CMakeLists.txt); entered only when cpu.h says so.
#include <cmath>
#include <cstdint>

#include "optim.h"

namespace pydl::avx512 {
#include "optim_impl.h"
}  // namespace pydl::avx512
