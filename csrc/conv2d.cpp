// conv2d as im2col + GEMM per sample: y[n] (c_out x P) = W (c_out x K) * col[n] (K x P), with
// K = c_in*kh*kw and P = ho*wo; threads split the batch. A 1x1 kernel with stride 1 and no padding
// needs no im2col: col[n] is x[n] itself. The im2col matrix is built a band of output rows at a time
// in a thread_local buffer, so the workspace stays cache-sized and is allocated once per thread, not
// per call. Backward: dw^T += col[n] * dy[n]^T, and dx[n] = col2im(W^T * dy[n]).
#include <algorithm>
#include <cstring>
#include <vector>

#include "conv.h"
#include "gemm.h"
#include "parallel.h"

namespace pydl {
namespace {

// A second thread on this busy 2-core machine costs tens of microseconds to wake: give each thread at
// least this many multiply-adds.
constexpr int64_t kMinMacsPerThread = int64_t(1) << 19;
// One thread's im2col band: small enough to stay in L2 between im2col and the GEMM that reads it.
constexpr int64_t kColBandBytes = int64_t(1) << 20;

template <typename T>
T* workspace(size_t n) {
  thread_local std::vector<T> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

bool is_pointwise(const ConvGeom& g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
}

int64_t band_rows(const ConvGeom& g, size_t elem) {
  int64_t row_bytes = g.c_in * g.kh * g.kw * g.wo * int64_t(elem);
  return std::max<int64_t>(1, std::min<int64_t>(g.ho, kColBandBytes / row_bytes));
}

// im2col reads a "staged" sample: zero-padded, and with every row split into sw phases, column c of
// the padded row going to phase c % sw at position c / sw. Each im2col segment (one kernel tap, one
// output row) is then a contiguous run of wo elements, copied without bounds checks or strided
// reads: with those, short output rows (8-16 pixels) spent more time on branches than on copying.
// A sample that needs neither padding nor phases is used in place.
bool is_staged(const ConvGeom& g) { return g.ph > 0 || g.pw > 0 || g.sw > 1; }
int64_t staged_h(const ConvGeom& g) { return g.h + 2 * g.ph; }
int64_t phase_w(const ConvGeom& g) { return (g.w + 2 * g.pw + g.sw - 1) / g.sw; }
int64_t staged_row(const ConvGeom& g) { return g.sw * phase_w(g); }
int64_t staged_size(const ConvGeom& g) { return is_staged(g) ? g.c_in * staged_h(g) * staged_row(g) : 0; }

// Calls f(q, c0, c1, x_col): phase q holds input columns x_col(c) = c * sw + q - pw for c in [c0, c1).
template <typename F>
void for_each_phase(const ConvGeom& g, F f) {
  const int64_t wq = phase_w(g);
  for (int64_t q = 0; q < g.sw; ++q) {
    const int64_t first = g.pw - q, last = g.w - 1 + g.pw - q;  // x_col(c) in [0, w) <=> c*sw in [first, last]
    const int64_t c0 = first > 0 ? (first + g.sw - 1) / g.sw : 0;
    const int64_t c1 = last < 0 ? 0 : std::min(wq, last / g.sw + 1);
    f(q, c0, std::max(c0, c1), q - g.pw);
  }
}

template <typename T>
void stage_sample(const ConvGeom& g, const T* x, T* xs) {
  const int64_t row = staged_row(g), wq = phase_w(g);
  std::fill(xs, xs + staged_size(g), T(0));
  for (int64_t ci = 0; ci < g.c_in; ++ci) {
    for (int64_t r = 0; r < g.h; ++r) {
      const T* src = x + (ci * g.h + r) * g.w;
      T* dst = xs + (ci * staged_h(g) + r + g.ph) * row;
      for_each_phase(g, [&](int64_t q, int64_t c0, int64_t c1, int64_t off) {
        for (int64_t c = c0; c < c1; ++c) dst[q * wq + c] = src[c * g.sw + off];
      });
    }
  }
}

// The inverse of stage_sample on the interior: dx = the staged gradient without padding and phases.
template <typename T>
void unstage_sample(const ConvGeom& g, const T* xs, T* dx) {
  const int64_t row = staged_row(g), wq = phase_w(g);
  for (int64_t ci = 0; ci < g.c_in; ++ci) {
    for (int64_t r = 0; r < g.h; ++r) {
      const T* src = xs + (ci * staged_h(g) + r + g.ph) * row;
      T* dst = dx + (ci * g.h + r) * g.w;
      for_each_phase(g, [&](int64_t q, int64_t c0, int64_t c1, int64_t off) {
        for (int64_t c = c0; c < c1; ++c) dst[c * g.sw + off] = src[q * wq + c];
      });
    }
  }
}

// col[(ci*kh + ki)*kw + kj][(oh - oh0)*wo + ow] = staged x[ci][oh*sh + ki][phase kj % sw][ow + kj / sw].
template <typename T>
void im2col(const ConvGeom& g, const T* xs, int64_t oh0, int64_t oh1, T* col) {
  const int64_t cols = (oh1 - oh0) * g.wo, row = is_staged(g) ? staged_row(g) : g.w;
  const int64_t wq = is_staged(g) ? phase_w(g) : g.w, hs = is_staged(g) ? staged_h(g) : g.h;
  for (int64_t ci = 0; ci < g.c_in; ++ci) {
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      T* rows = col + (ci * g.kh + ki) * g.kw * cols;
      for (int64_t oh = oh0; oh < oh1; ++oh) {
        const T* s = xs + (ci * hs + oh * g.sh + ki) * row;
        T* d = rows + (oh - oh0) * g.wo;
        for (int64_t kj = 0; kj < g.kw; ++kj, d += cols) {
          const T* seg = s + (kj % g.sw) * wq + kj / g.sw;
          for (int64_t ow = 0; ow < g.wo; ++ow) d[ow] = seg[ow];
        }
      }
    }
  }
}

// The adjoint of im2col: every column entry is added back where it was read from.
template <typename T>
void col2im_add(const ConvGeom& g, const T* col, int64_t oh0, int64_t oh1, T* dxs) {
  const int64_t cols = (oh1 - oh0) * g.wo, row = is_staged(g) ? staged_row(g) : g.w;
  const int64_t wq = is_staged(g) ? phase_w(g) : g.w, hs = is_staged(g) ? staged_h(g) : g.h;
  for (int64_t ci = 0; ci < g.c_in; ++ci) {
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      const T* rows = col + (ci * g.kh + ki) * g.kw * cols;
      for (int64_t oh = oh0; oh < oh1; ++oh) {
        T* d = dxs + (ci * hs + oh * g.sh + ki) * row;
        const T* s = rows + (oh - oh0) * g.wo;
        for (int64_t kj = 0; kj < g.kw; ++kj, s += cols) {
          T* seg = d + (kj % g.sw) * wq + kj / g.sw;
          for (int64_t ow = 0; ow < g.wo; ++ow) seg[ow] += s[ow];
        }
      }
    }
  }
}

// Samples per thread so that each thread gets kMinMacsPerThread of work.
int64_t min_samples_per_thread(int64_t macs_per_sample) {
  return std::max<int64_t>(1, (kMinMacsPerThread + macs_per_sample - 1) / std::max<int64_t>(1, macs_per_sample));
}

}  // namespace

template <typename T>
void conv2d_forward(const ConvGeom& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t K = g.c_in * g.kh * g.kw, P = g.ho * g.wo;
  const int64_t min_samples = min_samples_per_thread(g.c_out * K * P);
  if (is_pointwise(g)) {
    parallel_for(g.n, min_samples, [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) {
        T* yn = y + n * g.c_out * P;
        if (b) {
          for (int64_t co = 0; co < g.c_out; ++co) std::fill(yn + co * P, yn + (co + 1) * P, b[co]);
        }
        gemm(false, false, g.c_out, P, K, T(1), w, K, x + n * K * P, P, b ? T(1) : T(0), yn, P);
      }
    });
    return;
  }
  // The bias rides along as one more column of W times a row of ones under col: the GEMM then writes
  // y once, where filling y with the bias first cost a whole extra pass (20% of a 3x3, 1-channel conv).
  std::vector<T> wb;
  int64_t kk = K;
  if (b) {
    kk = K + 1;
    wb.resize(size_t(g.c_out * kk));
    for (int64_t co = 0; co < g.c_out; ++co) {
      std::copy(w + co * K, w + (co + 1) * K, wb.data() + co * kk);
      wb[size_t(co * kk + K)] = b[co];
    }
    w = wb.data();
  }
  const int64_t rows = band_rows(g, sizeof(T));
  parallel_for(g.n, min_samples, [&](int64_t n0, int64_t n1) {
    T* xs = workspace<T>(size_t(staged_size(g) + kk * rows * g.wo));
    T* col = xs + staged_size(g);
    for (int64_t n = n0; n < n1; ++n) {
      const T* src = x + n * g.c_in * g.h * g.w;
      if (is_staged(g)) {
        stage_sample(g, src, xs);
        src = xs;
      }
      for (int64_t oh0 = 0; oh0 < g.ho; oh0 += rows) {
        const int64_t oh1 = std::min(g.ho, oh0 + rows), cols = (oh1 - oh0) * g.wo;
        im2col(g, src, oh0, oh1, col);
        if (b) std::fill(col + K * cols, col + kk * cols, T(1));
        gemm(false, false, g.c_out, cols, kk, T(1), w, kk, col, cols, T(0), y + n * g.c_out * P + oh0 * g.wo, P);
      }
    }
  });
}

template <typename T>
void conv2d_backward(const ConvGeom& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
  const int64_t K = g.c_in * g.kh * g.kw, P = g.ho * g.wo;
  const bool pointwise = is_pointwise(g);
  const int64_t rows = band_rows(g, sizeof(T));

  // Each chunk of samples sums its own dw, and the chunks are added in a fixed order afterwards, so
  // the result does not depend on thread timing. They sum dw^T (K x c_out): c_out is often a multiple
  // of the GEMM's 32-wide micro-tile and K long, where dw's own c_out x K shape (16 x 9 for a 3x3,
  // 1-channel conv) left most of each micro-tile idle, running at half the speed.
  const int64_t macs = g.c_out * K * P * (dx ? 2 : 1);
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(num_threads(), g.n / min_samples_per_thread(macs)));
  std::vector<T> partial(size_t(chunks * K * g.c_out));

  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    const int64_t band = K * rows * g.wo;
    T* xs = pointwise ? nullptr : workspace<T>(size_t(2 * staged_size(g) + 2 * band));
    T* dxs = xs + staged_size(g);
    T* col = dxs + staged_size(g);
    T* dcol = col + band;
    for (int64_t c = c0; c < c1; ++c) {
      T* dwt = partial.data() + c * K * g.c_out;
      bool first = true;
      for (int64_t n = g.n * c / chunks; n < g.n * (c + 1) / chunks; ++n) {
        const T* xn = x + n * g.c_in * g.h * g.w;
        const T* dyn = dy + n * g.c_out * P;
        T* dxn = dx ? dx + n * g.c_in * g.h * g.w : nullptr;
        if (pointwise) {
          gemm(false, true, K, g.c_out, P, T(1), xn, P, dyn, P, first ? T(0) : T(1), dwt, g.c_out);
          if (dxn) gemm(true, false, K, P, g.c_out, T(1), w, K, dyn, P, T(0), dxn, P);
          first = false;
          continue;
        }
        const T* src = xn;
        T* dst = dxn;
        if (is_staged(g)) {
          stage_sample(g, xn, xs);
          src = xs;
          dst = dxs;
        }
        if (dxn) std::fill(dst, dst + (is_staged(g) ? staged_size(g) : g.c_in * g.h * g.w), T(0));
        for (int64_t oh0 = 0; oh0 < g.ho; oh0 += rows) {
          const int64_t oh1 = std::min(g.ho, oh0 + rows), cols = (oh1 - oh0) * g.wo;
          im2col(g, src, oh0, oh1, col);
          gemm(false, true, K, g.c_out, cols, T(1), col, cols, dyn + oh0 * g.wo, P, first ? T(0) : T(1), dwt, g.c_out);
          first = false;
          if (dxn) {
            gemm(true, false, K, cols, g.c_out, T(1), w, K, dyn + oh0 * g.wo, P, T(0), dcol, cols);
            col2im_add(g, dcol, oh0, oh1, dst);
          }
        }
        if (dxn && is_staged(g)) unstage_sample(g, dxs, dxn);
      }
    }
  });
  for (int64_t co = 0; co < g.c_out; ++co) {
    for (int64_t k = 0; k < K; ++k) {
      T s = T(0);
      for (int64_t c = 0; c < chunks; ++c) s += partial[size_t((c * K + k) * g.c_out + co)];
      dw[co * K + k] = s;
    }
  }

  if (db) {
    for (int64_t co = 0; co < g.c_out; ++co) db[co] = T(0);
    for (int64_t n = 0; n < g.n; ++n) {
      for (int64_t co = 0; co < g.c_out; ++co) {
        const T* d = dy + (n * g.c_out + co) * P;
        T s = T(0);
        for (int64_t p = 0; p < P; ++p) s += d[p];
        db[co] += s;
      }
    }
  }
}

template void conv2d_forward<float>(const ConvGeom&, const float*, const float*, const float*, float*);
template void conv2d_forward<double>(const ConvGeom&, const double*, const double*, const double*, double*);
template void conv2d_backward<float>(const ConvGeom&, const float*, const float*, const float*, float*, float*,
                                     float*);
template void conv2d_backward<double>(const ConvGeom&, const double*, const double*, const double*, double*,
                                      double*, double*);

}  // namespace pydl
