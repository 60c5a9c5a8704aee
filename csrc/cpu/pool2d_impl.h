// 2x2 / stride 2 max pooling, written once and compiled per instruction set: pool2d.cpp (with the scalar
// Lanes below) and pool2d_avx2.cpp (with pool2d_vec256.h) include it inside their own namespace, after
// defining Lanes<T>: chunks of Lanes<T>::N outputs of one output row, each returning the kPoolNaN /
// kPoolMisplaced flags (conv.h, pool2d_fast.h) for what it met.
//   max_chunk(r0, r1, y, argmax, top, w): outputs j..j+N from input rows r0, r1 (r0 + 2j passed), top
//     the flat index of r0[2j]; the maximum of each 2x2 block compared in row-major order with a strict >
//     from its first element, as the general path does (ties keep the first; NaN only wins from there).
//   unpool_chunk(dy, argmax, top, w, d0, d1): writes the 2N elements at d0 and d1 (the block rows), dy
//     where argmax points, +0 elsewhere; kPoolMisplaced when an argmax lies outside its own block.

// One output at a time: the generic build, and rows shorter than a vector.
template <typename E>
struct Scalar {
  using T = E;
  static constexpr int64_t N = 1;
  // Indexing, not branches (which the compiler makes of selections): random data mispredicts them.
  static int max_chunk(const T* r0, const T* r1, T* y, int64_t* argmax, int64_t top, int64_t w) {
    const T v[4] = {r0[0], r0[1], r1[0], r1[1]};
    int k = v[1] > v[0];
    k += (v[2] > v[k]) * (2 - k);
    k += (v[3] > v[k]) * (3 - k);
    *y = v[k];
    *argmax = top + (k & 1) + (k >> 1) * w;
    return ((v[0] != v[0]) | (v[1] != v[1]) | (v[2] != v[2]) | (v[3] != v[3])) * pydl::kPoolNaN;
  }
  static int unpool_chunk(const T* dy, const int64_t* argmax, int64_t top, int64_t w, T* d0, T* d1) {
    const int64_t at = *argmax - top;
    const T pick[2] = {T(0), *dy + T(0)};  // 0 + dy, as the zero fill and add of the general path: -0 -> +0
    d0[0] = pick[at == 0];
    d0[1] = pick[at == 1];
    d1[0] = pick[at == w];
    d1[1] = pick[at == w + 1];
    const bool placed = (at == 0) | (at == 1) | (at == w) | (at == w + 1);
    return !placed * pydl::kPoolMisplaced | (pick[1] != pick[1]) * pydl::kPoolNaN;
  }
};

// The flags of `apply(j, lanes)` over the chunks of [0, n): full vectors, the last one moved back to end
// at n (its outputs computed twice, the same values), one output at a time for rows shorter than a
// vector; stops at the first kPoolMisplaced.
template <typename V, typename Apply>
static int over_row(int64_t n, Apply apply) {
  int flags = 0;
  if (n < V::N) {
    for (int64_t j = 0; j < n && !(flags & pydl::kPoolMisplaced); ++j) flags |= apply(j, Scalar<typename V::T>());
    return flags;
  }
  int64_t j = 0;
  for (; j + V::N <= n && !(flags & pydl::kPoolMisplaced); j += V::N) flags |= apply(j, V());
  if (j < n && !(flags & pydl::kPoolMisplaced)) flags |= apply(n - V::N, V());
  return flags;
}

// Whether p[0, n) holds a NaN; branch-free, so it vectorises.
template <typename T>
static bool any_nan(const T* p, int64_t n) {
  int found = 0;
  for (int64_t i = 0; i < n; ++i) found |= p[i] != p[i];
  return found != 0;
}

// Whether an index of p[0, n) lies outside [0, end); branch-free, so it vectorises.
static inline bool any_outside(const int64_t* p, int64_t n, int64_t end) {
  uint64_t found = 0;  // the sign bit of p[i] or of end - 1 - p[i] (in uint64: SSE2 has no 64-bit compare)
  for (int64_t i = 0; i < n; ++i) found |= uint64_t(p[i]) | (uint64_t(end - 1) - uint64_t(p[i]));
  return (found >> 63) != 0;
}

// The general backward of one plane: dx zeroed, then each dy added at its argmax (overlapping windows
// accumulate). The plane's dy and argmax are checked first, while they come into cache; an argmax
// outside the plane is never followed.
template <typename T>
static int scatter_plane(const T* dy, const int64_t* argmax, int64_t n_out, T* dx, int64_t n_in) {
  const int flags = (any_nan(dy, n_out) ? pydl::kPoolNaN : 0) |
                    (any_outside(argmax, n_out, n_in) ? pydl::kPoolOutside : 0);
  std::fill(dx, dx + n_in, T(0));
  if (flags & pydl::kPoolOutside) return flags;
  for (int64_t o = 0; o < n_out; ++o) dx[argmax[o]] += dy[o];
  return flags;
}

template <typename T>
static int max_pool2x2_planes(const pydl::PoolGeom& g, const T* x, T* y, int64_t* argmax, int64_t p0, int64_t p1) {
  using V = Lanes<T>;
  int flags = 0;
  for (int64_t p = p0; p < p1; ++p) {
    const T* xp = x + p * g.h * g.w;
    for (int64_t oh = 0; oh < g.ho; ++oh) {
      const int64_t top = 2 * oh * g.w;
      const T* r0 = xp + top;
      const T* r1 = r0 + g.w;
      T* yr = y + (p * g.ho + oh) * g.wo;
      int64_t* ar = argmax + (p * g.ho + oh) * g.wo;
      flags |= over_row<V>(g.wo, [&](int64_t j, auto lanes) {
        return lanes.max_chunk(r0 + 2 * j, r1 + 2 * j, yr + j, ar + j, top + 2 * j, g.w);
      });
      if (g.w > 2 * g.wo && (any_nan(r0 + 2 * g.wo, g.w - 2 * g.wo) || any_nan(r1 + 2 * g.wo, g.w - 2 * g.wo))) {
        flags |= pydl::kPoolNaN;  // columns no window covers
      }
    }
    if (any_nan(xp + 2 * g.ho * g.w, (g.h - 2 * g.ho) * g.w)) flags |= pydl::kPoolNaN;  // rows likewise
  }
  return flags;
}

// One plane by blocks; kPoolMisplaced (dx partly written) when an argmax lies outside its output's block.
template <typename T>
static int unpool_plane(const pydl::PoolGeom& g, const T* dy, const int64_t* argmax, T* dx) {
  using V = Lanes<T>;
  int flags = 0;
  for (int64_t oh = 0; oh < g.ho; ++oh) {
    const int64_t top = 2 * oh * g.w;
    T* d0 = dx + top;
    T* d1 = d0 + g.w;
    const T* dyr = dy + oh * g.wo;
    const int64_t* ar = argmax + oh * g.wo;
    flags |= over_row<V>(g.wo, [&](int64_t j, auto lanes) {
      return lanes.unpool_chunk(dyr + j, ar + j, top + 2 * j, g.w, d0 + 2 * j, d1 + 2 * j);
    });
    if (flags & pydl::kPoolMisplaced) return flags;
    std::fill(d0 + 2 * g.wo, d0 + g.w, T(0));  // columns no window covers
    std::fill(d1 + 2 * g.wo, d1 + g.w, T(0));
  }
  std::fill(dx + 2 * g.ho * g.w, dx + g.h * g.w, T(0));  // rows no window covers
  return flags;
}

template <typename T>
static int max_unpool2x2_planes(const pydl::PoolGeom& g, const T* dy, const int64_t* argmax, T* dx, int64_t p0,
                                int64_t p1) {
  const int64_t in_plane = g.h * g.w, out_plane = g.ho * g.wo;
  int flags = 0;
  for (int64_t p = p0; p < p1; ++p) {
    const T* dyp = dy + p * out_plane;
    const int64_t* ap = argmax + p * out_plane;
    T* dxp = dx + p * in_plane;
    const int met = unpool_plane(g, dyp, ap, dxp);
    flags |= (met & pydl::kPoolMisplaced) ? scatter_plane(dyp, ap, out_plane, dxp, in_plane) : met;
  }
  return flags & ~pydl::kPoolMisplaced;
}

int max_pool2x2(const pydl::PoolGeom& g, const float* x, float* y, int64_t* argmax, int64_t p0, int64_t p1) {
  return max_pool2x2_planes(g, x, y, argmax, p0, p1);
}
int max_pool2x2(const pydl::PoolGeom& g, const double* x, double* y, int64_t* argmax, int64_t p0, int64_t p1) {
  return max_pool2x2_planes(g, x, y, argmax, p0, p1);
}
int max_unpool2x2(const pydl::PoolGeom& g, const float* dy, const int64_t* argmax, float* dx, int64_t p0,
                  int64_t p1) {
  return max_unpool2x2_planes(g, dy, argmax, dx, p0, p1);
}
int max_unpool2x2(const pydl::PoolGeom& g, const double* dy, const int64_t* argmax, double* dx, int64_t p0,
                  int64_t p1) {
  return max_unpool2x2_planes(g, dy, argmax, dx, p0, p1);
}
