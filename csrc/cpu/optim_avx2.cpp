// The optimizer loops compiled for AVX2 (flags from CMakeLists.txt); entered only when cpu.h says so.
#include <cmath>
#include <cstdint>

#include "optim.h"

namespace pydl::avx2 {
#include "optim_impl.h"
}  // namespace pydl::avx2
