// Which SIMD level the running CPU supports. Kernels compiled for AVX2/AVX-512 (files named
// *_avx2.cpp, *_avx512.cpp) are only entered after asking here, so one binary runs on any x86-64.
#pragma once

namespace pydl {

enum class SimdLevel { generic = 0, avx2 = 1, avx512 = 2 };

SimdLevel simd_level();             // the best level this CPU supports, capped by PYDL_SIMD / set_simd_level
void set_simd_level(SimdLevel lvl);  // cap (for tests and benchmarks); a level above the CPU's is clamped
SimdLevel cpu_simd_level();         // what the CPU itself supports
const char* simd_name(SimdLevel lvl);

}  // namespace pydl
