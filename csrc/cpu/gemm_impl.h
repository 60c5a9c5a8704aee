// Packing and micro-kernels of the packed GEMM, written once against a small vector interface V and
// compiled per instruction set: gemm.cpp, gemm_avx2.cpp and gemm_avx512.cpp each include this inside
// their own namespace after defining V (element type T, register type R, W lanes, zero/load/store/
// set1/fma/mul and the partial load/store used at the right edge of C).

// Micro-tile: M (<= MR) rows by NV * W columns of C accumulate in registers over kc steps, each step
// one broadcast of A per row times NV vectors of B. Only the first n columns are stored.
template <class V, int MR, int NV, int M>
static void micro_tile(int64_t kc, const typename V::T* A, const typename V::T* B, typename V::T* C, int64_t ldc,
                       int n, typename V::T alpha, typename V::T beta) {
  using T = typename V::T;
  using R = typename V::R;
  constexpr int W = V::W, NR = NV * W;
  R acc[M][NV];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[i][j] = V::zero();
  for (int64_t p = 0; p < kc; ++p) {
    R b[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) b[j] = V::load(B + j * W);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      R a = V::set1(A[i]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[i][j] = V::fma(a, b[j], acc[i][j]);
    }
    A += MR;
    B += NR;
  }
  const R va = V::set1(alpha), vb = V::set1(beta);
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
    T* c = C + i * ldc;
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      int cols = n - j * W;
      if (cols <= 0) break;
      R r = V::mul(acc[i][j], va);
      if (cols >= W) {
        if (beta != T(0)) r = V::fma(vb, V::load(c + j * W), r);
        V::store(c + j * W, r);
      } else {
        if (beta != T(0)) r = V::fma(vb, V::load_part(c + j * W, cols), r);
        V::store_part(c + j * W, r, cols);
      }
    }
  }
}

// The bottom micro-tile of a block has m < MR rows; each count gets its own unrolled kernel.
template <class V, int MR, int NV, int M = MR - 1>
static void edge_tile(int m, int64_t kc, const typename V::T* A, const typename V::T* B, typename V::T* C,
                      int64_t ldc, int n, typename V::T alpha, typename V::T beta) {
  if constexpr (M > 0) {
    if (m == M) micro_tile<V, MR, NV, M>(kc, A, B, C, ldc, n, alpha, beta);
    else edge_tile<V, MR, NV, M - 1>(m, kc, A, B, C, ldc, n, alpha, beta);
  }
}

// Columns outside, rows inside: one kc x NR panel of B stays in L1 while the packed A block streams
// past it from L2. Panels lie a_depth * MR (b_depth * NR) elements apart.
template <class V, int MR, int NV>
static void macro_kernel(int64_t mc, int64_t nc, int64_t kc, typename V::T alpha, const typename V::T* Ap,
                         int64_t a_depth, const typename V::T* Bp, int64_t b_depth, typename V::T beta,
                         typename V::T* C, int64_t ldc) {
  constexpr int NR = NV * V::W;
  for (int64_t jr = 0; jr < nc; jr += NR) {
    int n = (int)(nc - jr < NR ? nc - jr : NR);
    for (int64_t ir = 0; ir < mc; ir += MR) {
      int m = (int)(mc - ir < MR ? mc - ir : MR);
      const typename V::T* a = Ap + ir * a_depth;
      const typename V::T* b = Bp + jr * b_depth;
      typename V::T* c = C + ir * ldc + jr;
      if (m == MR) micro_tile<V, MR, NV, MR>(kc, a, b, c, ldc, n, alpha, beta);
      else edge_tile<V, MR, NV>(m, kc, a, b, c, ldc, n, alpha, beta);
    }
  }
}

template <typename T, int MR>
static void pack_a(bool trans, const T* A, int64_t lda, int64_t mc, int64_t kc, T* Ap) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR, Ap += MR * kc) {
    int m = (int)(mc - i0 < MR ? mc - i0 : MR);
    if (trans) {
      for (int64_t p = 0; p < kc; ++p) {
        const T* src = A + p * lda + i0;
        for (int r = 0; r < m; ++r) Ap[p * MR + r] = src[r];
      }
    } else {
      for (int r = 0; r < m; ++r) {
        const T* src = A + (i0 + r) * lda;
        for (int64_t p = 0; p < kc; ++p) Ap[p * MR + r] = src[p];
      }
    }
  }
}

template <typename T, int NR>
static void pack_b(bool trans, const T* B, int64_t ldb, int64_t kc, int64_t nc, T* Bp) {
  for (int64_t j0 = 0; j0 < nc; j0 += NR, Bp += NR * kc) {
    int n = (int)(nc - j0 < NR ? nc - j0 : NR);
    if (trans) {
      for (int c = 0; c < n; ++c) {
        const T* src = B + (j0 + c) * ldb;
        for (int64_t p = 0; p < kc; ++p) Bp[p * NR + c] = src[p];
      }
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        const T* src = B + p * ldb + j0;
        for (int c = 0; c < n; ++c) Bp[p * NR + c] = src[c];
      }
    }
    if (n < NR) {
      for (int64_t p = 0; p < kc; ++p)
        for (int c = n; c < NR; ++c) Bp[p * NR + c] = T(0);
    }
  }
}

template <class V, int MR, int NV>
static constexpr GemmKernels<typename V::T> make_kernels(int64_t mc, int64_t kc, int64_t nc) {
  using T = typename V::T;
  return {MR, mc, kc, nc, pack_a<T, MR>, {NV * V::W, pack_b<T, NV * V::W>, macro_kernel<V, MR, NV>},
          {V::W, pack_b<T, V::W>, macro_kernel<V, MR, 1>}};
}
