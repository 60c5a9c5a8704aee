// Max and average pooling, one (n, c) plane at a time; planes are independent, so threads split them.
// Max pooling with 2x2 windows at stride 2 takes the vector loops of pool2d_fast.h.
#include <algorithm>

#include "conv.h"
#include "cpu.h"
#include "parallel.h"
#include "pool2d_fast.h"

namespace pydl {

namespace generic {
template <typename T>
struct Scalar;
template <typename T>
using Lanes = Scalar<T>;
#include "pool2d_impl.h"
}  // namespace generic

namespace {

// Window visits a thread must get before waking a second one pays off on a busy 2-core machine.
constexpr int64_t kMinVisitsPerThread = int64_t(1) << 17;

int64_t min_planes_per_thread(const PoolGeom& g) {
  // In double: ho * wo * kh * kw overflows int64 for kernels of up to 2^31 (most of each window clipped).
  const double visits = std::max(1.0, double(g.ho) * double(g.wo) * double(g.kh) * double(g.kw));
  return visits >= double(kMinVisitsPerThread) ? 1 : int64_t((double(kMinVisitsPerThread) + visits - 1) / visits);
}

// 1 / (kh * kw), the count_include_pad divisor; the product taken in double, as it may exceed int64.
template <typename T>
T inv_window(const PoolGeom& g) { return T(1.0 / (double(g.kh) * double(g.kw))); }

// The window of output (oh, ow) clipped to the input: rows [h0, h1), columns [w0, w1).
struct Window {
  int64_t h0, h1, w0, w1;
};

inline Window window(const PoolGeom& g, int64_t oh, int64_t ow) {
  const int64_t hs = oh * g.sh - g.ph, ws = ow * g.sw - g.pw;
  return {std::max<int64_t>(hs, 0), std::min(hs + g.kh, g.h), std::max<int64_t>(ws, 0), std::min(ws + g.kw, g.w)};
}

// Any window, one output at a time; each plane checked for NaN first, bringing it into cache.
template <typename T>
int max_pool_planes(const PoolGeom& g, const T* x, T* y, int64_t* argmax, int64_t p0, int64_t p1) {
  const int64_t in_plane = g.h * g.w, out_plane = g.ho * g.wo;
  int flags = 0;
  for (int64_t p = p0; p < p1; ++p) {
    const T* xp = x + p * in_plane;
    T* yp = y + p * out_plane;
    int64_t* ap = argmax + p * out_plane;
    if (generic::any_nan(xp, in_plane)) flags |= kPoolNaN;
    for (int64_t oh = 0; oh < g.ho; ++oh) {
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        // padding <= kernel/2 puts at least one input element in every window; starting from it
        // (not from -inf) gives an all -inf window a valid arg-max, as PyTorch does.
        const Window win = window(g, oh, ow);
        int64_t best = win.h0 * g.w + win.w0;
        T best_v = xp[best];
        for (int64_t ih = win.h0; ih < win.h1; ++ih) {
          for (int64_t iw = win.w0; iw < win.w1; ++iw) {
            const T v = xp[ih * g.w + iw];
            if (v > best_v) {  // strict: ties keep the first in row-major order
              best_v = v;
              best = ih * g.w + iw;
            }
          }
        }
        yp[oh * g.wo + ow] = best_v;
        ap[oh * g.wo + ow] = best;
      }
    }
  }
  return flags;
}

// Input elements a thread must get on the 2x2 paths before waking a second one pays off.
constexpr int64_t kMin2x2PerThread = int64_t(1) << 16;

int64_t min_planes_2x2(const PoolGeom& g) { return std::max<int64_t>(1, kMin2x2PerThread / (g.h * g.w)); }

template <typename T>
int max_pool2x2_isa(const PoolGeom& g, const T* x, T* y, int64_t* argmax, int64_t p0, int64_t p1) {
  switch (simd_level()) {
#ifdef PYDL_X86
    case SimdLevel::avx512:  // 512-bit lanes would not fill on 28-wide rows; memory bounds it either way
    case SimdLevel::avx2: return avx2::max_pool2x2(g, x, y, argmax, p0, p1);
#endif
    default: return generic::max_pool2x2(g, x, y, argmax, p0, p1);
  }
}

template <typename T>
int max_unpool2x2_isa(const PoolGeom& g, const T* dy, const int64_t* argmax, T* dx, int64_t p0, int64_t p1) {
  switch (simd_level()) {
#ifdef PYDL_X86
    case SimdLevel::avx512:
    case SimdLevel::avx2: return avx2::max_unpool2x2(g, dy, argmax, dx, p0, p1);
#endif
    default: return generic::max_unpool2x2(g, dy, argmax, dx, p0, p1);
  }
}

}  // namespace

template <typename T>
int max_pool2d_forward(const PoolGeom& g, const T* x, T* y, int64_t* argmax) {
  const bool two_by_two = max_pool2x2_applies(g);
  int flags = 0;
  parallel_for(g.planes, two_by_two ? min_planes_2x2(g) : min_planes_per_thread(g), [&](int64_t p0, int64_t p1) {
    const int met = two_by_two ? max_pool2x2_isa(g, x, y, argmax, p0, p1) : max_pool_planes(g, x, y, argmax, p0, p1);
    if (met) __atomic_fetch_or(&flags, met, __ATOMIC_RELAXED);
  });
  return flags;
}

template <typename T>
int max_pool2d_backward(const PoolGeom& g, const T* dy, const int64_t* argmax, T* dx) {
  const int64_t in_plane = g.h * g.w, out_plane = g.ho * g.wo;
  const bool two_by_two = max_unpool2x2_may_apply(g);
  const int64_t min_planes =
      two_by_two ? min_planes_2x2(g) : std::max<int64_t>(1, kMinVisitsPerThread / std::max<int64_t>(1, out_plane));
  int flags = 0;
  parallel_for(g.planes, min_planes, [&](int64_t p0, int64_t p1) {
    int met = 0;
    if (two_by_two) {
      met = max_unpool2x2_isa(g, dy, argmax, dx, p0, p1);
    } else {
      for (int64_t p = p0; p < p1; ++p) {
        met |= generic::scatter_plane(dy + p * out_plane, argmax + p * out_plane, out_plane, dx + p * in_plane,
                                      in_plane);
      }
    }
    if (met) __atomic_fetch_or(&flags, met, __ATOMIC_RELAXED);
  });
  return flags;
}

template <typename T>
void avg_pool2d_forward(const PoolGeom& g, const T* x, T* y) {
  const int64_t in_plane = g.h * g.w, out_plane = g.ho * g.wo;
  const T scale = inv_window<T>(g);
  parallel_for(g.planes, min_planes_per_thread(g), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * in_plane;
      T* yp = y + p * out_plane;
      for (int64_t oh = 0; oh < g.ho; ++oh) {
        for (int64_t ow = 0; ow < g.wo; ++ow) {
          const Window win = window(g, oh, ow);
          T s = T(0);
          for (int64_t ih = win.h0; ih < win.h1; ++ih) {
            for (int64_t iw = win.w0; iw < win.w1; ++iw) s += xp[ih * g.w + iw];
          }
          yp[oh * g.wo + ow] = s * scale;
        }
      }
    }
  });
}

template <typename T>
void avg_pool2d_backward(const PoolGeom& g, const T* dy, T* dx) {
  const int64_t in_plane = g.h * g.w, out_plane = g.ho * g.wo;
  const T scale = inv_window<T>(g);
  parallel_for(g.planes, min_planes_per_thread(g), [&](int64_t p0, int64_t p1) {
    std::fill(dx + p0 * in_plane, dx + p1 * in_plane, T(0));
    for (int64_t p = p0; p < p1; ++p) {
      const T* dyp = dy + p * out_plane;
      T* dxp = dx + p * in_plane;
      for (int64_t oh = 0; oh < g.ho; ++oh) {
        for (int64_t ow = 0; ow < g.wo; ++ow) {
          const Window win = window(g, oh, ow);
          const T d = dyp[oh * g.wo + ow] * scale;
          for (int64_t ih = win.h0; ih < win.h1; ++ih) {
            for (int64_t iw = win.w0; iw < win.w1; ++iw) dxp[ih * g.w + iw] += d;
          }
        }
      }
    }
  });
}

template int max_pool2d_forward<float>(const PoolGeom&, const float*, float*, int64_t*);
template int max_pool2d_forward<double>(const PoolGeom&, const double*, double*, int64_t*);
template int max_pool2d_backward<float>(const PoolGeom&, const float*, const int64_t*, float*);
template int max_pool2d_backward<double>(const PoolGeom&, const double*, const int64_t*, double*);
template void avg_pool2d_forward<float>(const PoolGeom&, const float*, float*);
template void avg_pool2d_forward<double>(const PoolGeom&, const double*, double*);
template void avg_pool2d_backward<float>(const PoolGeom&, const float*, float*);
template void avg_pool2d_backward<double>(const PoolGeom&, const double*, double*);

}  // namespace pydl
