// Direct-convolution micro-kernels (conv_direct.h) for AVX-512 (flags from CMakeLists.txt); entered
// only when cpu.h says so.
#include <immintrin.h>

#include <array>
#include <utility>

#include "conv_direct.h"

namespace pydl::conv_avx512 {

#include "vec_avx512.h"

#include "conv_direct_impl.h"

// Tiles (forward channels x vectors, dW channels x taps, dx taps x vectors): the fastest measured over the
// shapes of scripts/bench_conv.py (docs/DEVELOPING.md, "Measurements behind the code").
const DirectConvKernels<float> kernels_f32 = make_direct_kernels<F32, 16, 1, 4, 6, 6, 4>();
const DirectConvKernels<double> kernels_f64 = make_direct_kernels<F64, 16, 1, 4, 6, 6, 4>();
const DirectConvKernels<float> narrow_f32 = make_direct_kernels<F32x8, 6, 4, 6, 4, 6, 4>();
const DirectConvKernels<double> narrow_f64 = make_direct_kernels<F64x4, 6, 4, 6, 4, 6, 4>();

}  // namespace pydl::conv_avx512
