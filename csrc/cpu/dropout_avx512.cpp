// The dropout mask loop compiled for AVX-512 (64-bit multiplies in vector registers); entered only when
// cpu.h says so.
#include <cstdint>

namespace pydl::avx512_dropout {
#include "dropout_impl.h"
}  // namespace pydl::avx512_dropout
