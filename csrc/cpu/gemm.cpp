// pydl's GEMM: a packed, cache-blocked, register-blocked product in the BLIS style.
// Tiny products run as plain loops (packing would cost more than it saves); larger ones pack blocks of
// op(A) and op(B) into contiguous panels (thread-local buffers reused across calls) and hand them to the
// micro-kernels of the CPU's SIMD level (gemm_impl.h, compiled per ISA). Above a measured amount of work
// the product is cut into one slab of C per thread, each packed and multiplied independently.
#include <cstring>
#include <string>
#include <vector>

#include "cpu.h"
#include "gemm.h"
#include "gemm_kernels.h"
#include "parallel.h"

namespace pydl {

namespace gemm_generic {

// 16-byte GCC/Clang vectors: SSE2 on any x86-64, NEON on arm64. Without FMA hardware a*b+c stays a
// multiply and an add.
template <typename Elem, int Lanes>
struct Vec {
  using T = Elem;
  typedef T R __attribute__((vector_size(16)));
  static constexpr int W = Lanes;
  static R zero() { return R{}; }
  static R load(const T* p) {
    R r;
    std::memcpy(&r, p, sizeof r);
    return r;
  }
  static void store(T* p, R v) { std::memcpy(p, &v, sizeof v); }
  static R set1(T a) { return R{} + a; }
  static R fma(R a, R b, R c) { return a * b + c; }
  static R mul(R a, R b) { return a * b; }
  static R load_part(const T* p, int n) {
    R r = R{};
    for (int i = 0; i < n; ++i) r[i] = p[i];
    return r;
  }
  static void store_part(T* p, R v, int n) {
    for (int i = 0; i < n; ++i) p[i] = v[i];
  }
};
using F32 = Vec<float, 4>;
using F64 = Vec<double, 2>;

#include "gemm_impl.h"

const GemmKernels<float> kernels_f32 = make_kernels<F32, 6, 2>(144, 256, 4096);
const GemmKernels<double> kernels_f64 = make_kernels<F64, 6, 2>(72, 256, 2048);

}  // namespace gemm_generic

// Up to this many multiply-adds (m n k) plain loops beat packing, whose fixed cost is ~0.1 us.
constexpr int64_t kSmallGemm = 128;
// Least work (2 m n k flops) per thread that pays for a second one, with a margin for a core busy with
// another process (every join then waits for a time slice).
constexpr double kMinFlopsPerThread = 1e6;

template <typename T>
static const GemmKernels<T>& kernels_for(SimdLevel level);
template <>
const GemmKernels<float>& kernels_for<float>(SimdLevel level) {
#ifdef PYDL_X86
  if (level == SimdLevel::avx512) return gemm_avx512::kernels_f32;
  if (level == SimdLevel::avx2) return gemm_avx2::kernels_f32;
#endif
  return gemm_generic::kernels_f32;
}
template <>
const GemmKernels<double>& kernels_for<double>(SimdLevel level) {
#ifdef PYDL_X86
  if (level == SimdLevel::avx512) return gemm_avx512::kernels_f64;
  if (level == SimdLevel::avx2) return gemm_avx2::kernels_f64;
#endif
  return gemm_generic::kernels_f64;
}

static int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

// Equal blocks of at most `most` (a multiple of `align`): 784 with most 256 gives 4 x 196, not
// 3 x 256 + 16, whose thin last block would reload C for little work.
static int64_t balanced_block(int64_t total, int64_t most, int64_t align) {
  int64_t blocks = (total + most - 1) / most;
  return round_up((total + blocks - 1) / blocks, align);
}

// A 64-byte aligned scratch area of this thread, grown when needed and kept for later calls.
template <typename T>
static T* scratch(int which, int64_t count) {
  thread_local std::vector<T> buffers[2];
  std::vector<T>& buf = buffers[which];
  size_t need = (size_t)count + 64 / sizeof(T);
  if (buf.size() < need) buf.resize(need);
  auto addr = reinterpret_cast<uintptr_t>(buf.data());
  return reinterpret_cast<T*>((addr + 63) & ~uintptr_t(63));
}

template <typename T>
static void scale_c(int64_t m, int64_t n, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    T* c = C + i * ldc;
    for (int64_t j = 0; j < n; ++j) c[j] = beta == T(0) ? T(0) : beta * c[j];
  }
}

template <typename T>
static void gemm_loops(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* A, int64_t lda,
                       const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  scale_c(m, n, beta, C, ldc);
  for (int64_t i = 0; i < m; ++i) {
    T* c = C + i * ldc;
    for (int64_t p = 0; p < k; ++p) {
      T a = alpha * (ta ? A[p * lda + i] : A[i * lda + p]);
      if (tb) {
        for (int64_t j = 0; j < n; ++j) c[j] += a * B[j * ldb + p];
      } else {
        const T* b = B + p * ldb;
        for (int64_t j = 0; j < n; ++j) c[j] += a * b[j];
      }
    }
  }
}

template <typename T>
static void gemm_packed(const GemmKernels<T>& K, bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha,
                        const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  const typename GemmKernels<T>::Columns& cols = n <= K.narrow.nr ? K.narrow : K.wide;
  const int64_t mc = balanced_block(m, K.mc, K.mr), kc = balanced_block(k, K.kc, 1),
                nc = balanced_block(n, K.nc, cols.nr);
  T* Ap = scratch<T>(0, mc * kc);
  T* Bp = scratch<T>(1, nc * kc);
  for (int64_t jc = 0; jc < n; jc += nc) {
    const int64_t nb = n - jc < nc ? n - jc : nc;
    for (int64_t pc = 0; pc < k; pc += kc) {
      const int64_t kb = k - pc < kc ? k - pc : kc;
      cols.pack_b(tb, tb ? B + jc * ldb + pc : B + pc * ldb + jc, ldb, kb, nb, Bp);
      const T beta_block = pc == 0 ? beta : T(1);  // later k blocks add onto the first's result
      for (int64_t ic = 0; ic < m; ic += mc) {
        const int64_t mb = m - ic < mc ? m - ic : mc;
        K.pack_a(ta, ta ? A + pc * lda + ic : A + ic * lda + pc, lda, mb, kb, Ap);
        cols.macro(mb, nb, kb, alpha, Ap, kb, Bp, kb, beta_block, C + ic * ldc + jc, ldc);
      }
    }
  }
}

template <typename T>
static void gemm_any(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* A, int64_t lda,
                     const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == T(0)) {
    scale_c(m, n, beta, C, ldc);
    return;
  }
  if (m * n * k <= kSmallGemm) {
    gemm_loops(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const GemmKernels<T>& K = kernels_for<T>(simd_level());
  const double flops = 2.0 * (double)m * (double)n * (double)k;
  const int64_t useful = (int64_t)(flops / kMinFlopsPerThread);
  int64_t threads = useful < num_threads() ? useful : num_threads();
#ifdef PYDL_HAVE_OPENMP
  // Inside another parallel loop (conv2d's over samples) the cores are already busy.
  if (omp_in_parallel()) threads = 1;
#endif
  if (threads <= 1) {
    gemm_packed(K, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Cut C into one slab per thread along its longer side (in whole micro-tiles): each thread then
  // re-packs only the smaller operand that all slabs share.
  const bool split_n = n >= m;
  const int64_t align = split_n ? K.wide.nr : K.mr, total = split_n ? n : m;
  const int64_t units = (total + align - 1) / align;
  const int64_t slabs = units < threads ? units : threads;
  parallel_for(slabs, 1, [&](int64_t first, int64_t last) {
    for (int64_t s = first; s < last; ++s) {
      const int64_t lo = units * s / slabs * align, hi_raw = units * (s + 1) / slabs * align;
      const int64_t hi = hi_raw < total ? hi_raw : total;
      if (split_n) {
        gemm_packed(K, ta, tb, m, hi - lo, k, alpha, A, lda, tb ? B + lo * ldb : B + lo, ldb, beta, C + lo, ldc);
      } else {
        gemm_packed(K, ta, tb, hi - lo, n, k, alpha, ta ? A + lo : A + lo * lda, lda, B, ldb, beta, C + lo * ldc,
                    ldc);
      }
    }
  });
}

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_any(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* A, int64_t lda,
          const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  gemm_any(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <typename T>
PackedGemm<T>::PackedGemm() : kernels_(kernels_for<T>(simd_level())) {}
template <typename T>
int PackedGemm<T>::mr() const {
  return kernels_.mr;
}
template <typename T>
int PackedGemm<T>::nr() const {
  return kernels_.wide.nr;
}
template <typename T>
void PackedGemm<T>::pack_a(int64_t m, int64_t k, const T* A, int64_t lda, T* Ap) const {
  kernels_.pack_a(false, A, lda, m, k, Ap);  // panels of the full depth k
}
template <typename T>
void PackedGemm<T>::multiply(int64_t m, int64_t n, int64_t k, T alpha, const T* Ap, const T* Bp, T beta, T* C,
                             int64_t ldc) const {
  const GemmKernels<T>& K = kernels_;
  const int64_t mc = balanced_block(m, K.mc, K.mr), kc = balanced_block(k, K.kc, 1);
  for (int64_t pc = 0; pc < k; pc += kc) {
    const int64_t kb = k - pc < kc ? k - pc : kc;
    const T beta_block = pc == 0 ? beta : T(1);
    for (int64_t ic = 0; ic < m; ic += mc) {
      const int64_t mb = m - ic < mc ? m - ic : mc;
      K.wide.macro(mb, n, kb, alpha, Ap + ic * k + pc * K.mr, k, Bp + pc * K.wide.nr, k, beta_block, C + ic * ldc,
                   ldc);
    }
  }
}
template class PackedGemm<float>;
template class PackedGemm<double>;

static std::string describe(SimdLevel level) {
  const GemmKernels<float>& f = kernels_for<float>(level);
  const GemmKernels<double>& d = kernels_for<double>(level);
  return std::string("pydl packed ") + simd_name(level) + " (" + std::to_string(f.mr) + "x" +
         std::to_string(f.wide.nr) + " f32, " + std::to_string(d.mr) + "x" + std::to_string(d.wide.nr) + " f64)";
}

const char* gemm_path() {
  static const std::string paths[] = {describe(SimdLevel::generic), describe(SimdLevel::avx2),
                                      describe(SimdLevel::avx512)};
  return paths[(int)simd_level()].c_str();
}

}  // namespace pydl
