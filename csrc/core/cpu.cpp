#include "cpu.h"

#include <cstdlib>
#include <cstring>

namespace pydl {

SimdLevel cpu_simd_level() {
#if defined(PYDL_X86) && (defined(__GNUC__) || defined(__clang__))
  static const SimdLevel detected = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("fma"))
      return SimdLevel::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::avx2;
    return SimdLevel::generic;
  }();
  return detected;
#else
  return SimdLevel::generic;
#endif
}

static SimdLevel level_from_env() {
  SimdLevel cpu = cpu_simd_level();
  const char* env = std::getenv("PYDL_SIMD");
  if (!env) return cpu;
  SimdLevel want = cpu;
  if (!std::strcmp(env, "generic")) want = SimdLevel::generic;
  else if (!std::strcmp(env, "avx2")) want = SimdLevel::avx2;
  else if (!std::strcmp(env, "avx512")) want = SimdLevel::avx512;
  return want < cpu ? want : cpu;
}

static SimdLevel g_level = level_from_env();

SimdLevel simd_level() { return g_level; }

void set_simd_level(SimdLevel lvl) {
  SimdLevel cpu = cpu_simd_level();
  g_level = lvl < cpu ? lvl : cpu;
}

const char* simd_name(SimdLevel lvl) {
  switch (lvl) {
    case SimdLevel::avx512: return "avx512";
    case SimdLevel::avx2: return "avx2";
    default: return "generic";
  }
}

}  // namespace pydl
