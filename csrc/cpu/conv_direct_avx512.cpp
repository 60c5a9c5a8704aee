// Direct-convolution micro-kernels (conv_direct.h) for AVX-512 (flags from CMakeLists.txt); entered
// only when cpu.h says so.
#include <immintrin.h>

#include <array>
#include <utility>

#include "conv_direct.h"

namespace pydl::conv_avx512 {

#include "vec_avx512.h"

#include "conv_direct_impl.h"

// Tiles (forward channels x vectors, dW channels x taps, dx taps x vectors), measured on one Zen 4 thread
// over the shapes of scripts/bench_conv.py against 8x3, 14x2 / 8x3, 6x4, 2x9 / 3x8, 4x6, 9x2 (512-bit)
// and 8x2, 8x3, 12x2 / 8x3, 2x9 / 3x8, 4x6 (256-bit): most differences were within 5%, but dx's 6x4
// beat 3x8 by 7% (shape 2: 0.83 vs 0.89 ms) and 13% (shape 3, 256-bit), dW's 2x9 took twice as long as
// any other, and 512-bit 8x3 dW (8 dy + 24 sums: more than the 32 registers) lost 15% to 4x6 once its
// rows were stepped by pointer. Loop orders (pixels or channels outside) made no difference.
const DirectConvKernels<float> kernels_f32 = make_direct_kernels<F32, 16, 1, 4, 6, 6, 4>();
const DirectConvKernels<double> kernels_f64 = make_direct_kernels<F64, 16, 1, 4, 6, 6, 4>();
const DirectConvKernels<float> narrow_f32 = make_direct_kernels<F32x8, 6, 4, 6, 4, 6, 4>();
const DirectConvKernels<double> narrow_f64 = make_direct_kernels<F64x4, 6, 4, 6, 4, 6, 4>();

}  // namespace pydl::conv_avx512
