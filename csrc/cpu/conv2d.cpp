// conv2d as im2col + GEMM over tiles of the batch. A tile is a block of whole samples whose im2col
// columns sit side by side in one matrix col (K x nb*P, K = c_in*kh*kw, P = ho*wo), so that one GEMM
// Y (c_out x nb*P) = W (c_out x K) * col covers the block; a sample too large for one tile is cut into
// bands of output rows instead. Threads split the batch into runs of tiles, each thread with its own
// workspace (thread_local, reused across calls; about kColTileBytes for col, as much for its
// gradient, c_out x 2 kTileCols for dY or Y of a block, and one zero-padded sample).
// Forward: W is packed once per call and im2col writes col in the GEMM's packed layout (PackedGemm),
// so no operand is copied again per tile. Backward per tile: dw^T += col * dY^T and
// dx = col2im(W^T * dY).
// With AVX-512, most shapes take the direct path instead (conv_direct.h, below): no col matrix, the
// micro-kernels read the staged sample through per-tap offsets. One Zen 4 thread, the shapes of
// scripts/bench_conv.py, forward / backward in ms, im2col+GEMM -> direct: shape 1 0.27 -> 0.21 /
// 1.64 -> 0.55 (of which 0.6 -> 0.04 the bias gradient, see add_plane_sums), shape 2 0.96 -> 0.75 /
// 3.17 -> 1.77, shape 3 0.98 -> 0.80 / 2.32 -> 1.96; also faster or equal on larger ones ((8, 64, 56,
// 56) -> 64 3x3: 19.6 -> 19.1 / 48.8 -> 41.0; (4, 128, 28, 28) -> 128 3x3: equal). Without AVX-512
// every shape stays on im2col + GEMM.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "activations.h"
#include "conv.h"
#include "conv_direct.h"
#include "cpu.h"
#include "gemm.h"
#include "parallel.h"

namespace pydl {
namespace {

// A second thread on this busy 2-core machine costs tens of microseconds to wake: give each thread at
// least this many multiply-adds.
constexpr int64_t kMinMacsPerThread = int64_t(1) << 19;
// GEMM columns a tile aims for: blocking samples pays only where one sample has few columns (docs).
constexpr int64_t kTileCols = 512;
// Largest im2col tile of one thread (a band of output rows of one sample when a sample exceeds it).
constexpr int64_t kColTileBytes = int64_t(1) << 21;
// Staged samples and their packed dy the direct backward's dW runs over at once (a quarter of a Zen 4 L2).
constexpr int64_t kDirectBlockBytes = int64_t(1) << 18;

// Workspace areas of the calling thread, grown when needed and kept for later calls. Within a
// parallel_for the calling thread is also a worker, so the areas it holds across the loop (kCaller)
// are separate from those the loop body uses.
enum Area { kStaged, kCol, kRows, kCaller, kCallerPacked, kCallerDy, kAreas };
// Areas start on a cache line: a vector load across two lines costs two loads, and the direct dW kernel
// is bound by its loads.
template <typename T>
T* workspace(Area area, int64_t n) {
  constexpr int64_t line = 64 / sizeof(T);
  thread_local std::vector<T> bufs[kAreas];
  std::vector<T>& buf = bufs[area];
  if (buf.size() < size_t(n + line)) buf.resize(size_t(n + line));
  const uintptr_t at = reinterpret_cast<uintptr_t>(buf.data());
  return buf.data() + (-at % 64) / sizeof(T);
}

// im2col reads a "staged" sample: zero-padded, and with every row split into sw phases, column c of
// the padded row going to phase c % sw at position c / sw. Each im2col segment (one kernel tap, one
// output row) is then a contiguous run of wo elements, copied without bounds checks or strided
// reads: with those, short output rows (8-16 pixels) spent more time on branches than on copying.
// A sample that needs neither padding nor phases is used in place.
// A 1x1 kernel with stride 1 and no padding needs no im2col: a sample's col is the sample itself. The
// output must cover the input too: the bindings pass stride 1 for a single output row or column.
bool is_pointwise(const ConvGeom& g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0 && g.ho == g.h && g.wo == g.w;
}

bool is_staged(const ConvGeom& g) { return g.ph > 0 || g.pw > 0 || g.sw > 1; }
int64_t staged_h(const ConvGeom& g) { return g.h + 2 * g.ph; }
int64_t phase_w(const ConvGeom& g) { return (g.w + 2 * g.pw + g.sw - 1) / g.sw; }
int64_t staged_row(const ConvGeom& g) { return g.sw * phase_w(g); }
int64_t staged_size(const ConvGeom& g) { return is_staged(g) ? g.c_in * staged_h(g) * staged_row(g) : 0; }

// Calls f(q, c0, c1, x_col): phase q holds input columns x_col(c) = c * sw + q - pw for c in [c0, c1).
// Called once per sample, not per row: the divisions it needs cost more than copying a short row.
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

// Writes the interior of the staged sample; its padding must already be zero (it never changes).
// The stride is a template argument for the common strides 1 and 2, whose copies the compiler then
// vectorises.
template <typename T, typename Stride>
void stage_sample(const ConvGeom& g, const T* x, T* xs, Stride sw) {
  const int64_t row = staged_row(g), wq = phase_w(g);
  for_each_phase(g, [&](int64_t q, int64_t c0, int64_t c1, int64_t off) {
    for (int64_t ci = 0; ci < g.c_in; ++ci) {
      for (int64_t r = 0; r < g.h; ++r) {
        const T* src = x + (ci * g.h + r) * g.w + off;
        T* dst = xs + (ci * staged_h(g) + r + g.ph) * row + q * wq;
        for (int64_t c = c0; c < c1; ++c) dst[c] = src[c * sw];
      }
    }
  });
}
template <typename T>
void stage_sample(const ConvGeom& g, const T* x, T* xs) {
  if (g.sw == 1) stage_sample(g, x, xs, std::integral_constant<int64_t, 1>());
  else if (g.sw == 2) stage_sample(g, x, xs, std::integral_constant<int64_t, 2>());
  else stage_sample(g, x, xs, g.sw);
}

// The inverse of stage_sample on the interior: dx = the staged gradient without padding and phases.
template <typename T>
void unstage_sample(const ConvGeom& g, const T* xs, T* dx) {
  const int64_t row = staged_row(g), wq = phase_w(g);
  for_each_phase(g, [&](int64_t q, int64_t c0, int64_t c1, int64_t off) {
    for (int64_t ci = 0; ci < g.c_in; ++ci) {
      for (int64_t r = 0; r < g.h; ++r) {
        const T* src = xs + (ci * staged_h(g) + r + g.ph) * row + q * wq;
        T* dst = dx + (ci * g.h + r) * g.w + off;
        for (int64_t c = c0; c < c1; ++c) dst[c * g.sw] = src[c];
      }
    }
  });
}

// col[(ci*kh + ki)*kw + kj][(oh - oh0)*wo + ow] = staged x[ci][oh*sh + ki][phase kj % sw][ow + kj / sw],
// col's rows ld apart (a sample of a block writes its own range of columns).
template <typename T>
void im2col(const ConvGeom& g, const T* xs, int64_t oh0, int64_t oh1, T* col, int64_t ld) {
  const int64_t row = is_staged(g) ? staged_row(g) : g.w;
  const int64_t wq = is_staged(g) ? phase_w(g) : g.w, hs = is_staged(g) ? staged_h(g) : g.h;
  for (int64_t ci = 0; ci < g.c_in; ++ci) {
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      T* rows = col + (ci * g.kh + ki) * g.kw * ld;
      for (int64_t oh = oh0; oh < oh1; ++oh) {
        const T* s = xs + (ci * hs + oh * g.sh + ki) * row;
        T* d = rows + (oh - oh0) * g.wo;
        // Phase q = kj % sw and offset kj / sw, stepped instead of divided.
        for (int64_t kj = 0, q = 0, off = 0; kj < g.kw; ++kj, d += ld) {
          const T* seg = s + q * wq + off;
          for (int64_t ow = 0; ow < g.wo; ++ow) d[ow] = seg[ow];
          if (++q == g.sw) q = 0, ++off;
        }
      }
    }
  }
}

// Copies n elements in 16-byte pieces, the last piece overlapping its predecessor: im2col's segments
// are short rows, where a plain loop's vectorised set-up costs more than the copy.
template <typename T>
inline void copy_run(const T* s, int64_t n, T* d) {
  constexpr int64_t piece = 16 / sizeof(T);
  if (n < piece) {
    for (int64_t i = 0; i < n; ++i) d[i] = s[i];
    return;
  }
  for (int64_t i = 0; i + piece < n; i += piece) std::memcpy(d + i, s + i, 16);
  std::memcpy(d + n - piece, s + n - piece, 16);
}

// im2col straight into B's panels for PackedGemm (nr columns wide, kk deep): column j of the tile
// (the sample's pixel (oh - oh0) * wo + ow, plus c0) at panel j / nr, position j % nr of each row.
// Rows past the kernel's taps (the bias row) are left to the caller.
template <typename T>
void im2col_packed(const ConvGeom& g, const T* xs, int64_t oh0, int64_t oh1, int64_t c0, int64_t nr, int64_t kk,
                   T* Bp) {
  // The geometry in locals: copy_run's stores may alias g, whose fields were reloaded after each one.
  const int64_t row = is_staged(g) ? staged_row(g) : g.w;
  const int64_t wq = is_staged(g) ? phase_w(g) : g.w, hs = is_staged(g) ? staged_h(g) : g.h;
  const int64_t c_in = g.c_in, kh = g.kh, kw = g.kw, sh = g.sh, sw = g.sw, wo = g.wo;
  const int64_t panel = nr * kk;  // elements from one panel to the next
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    const int64_t j = c0 + (oh - oh0) * wo, off = j % nr;
    T* dst = Bp + j / nr * panel + off;  // where row 0 of this output row's segment starts
    const bool one_panel = off + wo <= nr;
    for (int64_t ci = 0; ci < c_in; ++ci) {
      for (int64_t ki = 0; ki < kh; ++ki) {
        const T* s = xs + (ci * hs + oh * sh + ki) * row;
        T* d = dst + (ci * kh + ki) * kw * nr;
        for (int64_t kj = 0, q = 0, o = 0; kj < kw; ++kj, d += nr) {
          const T* seg = s + q * wq + o;
          if (++q == sw) q = 0, ++o;
          if (one_panel) {
            copy_run(seg, wo, d);
            continue;
          }
          // The segment's wo elements, continued at the start of the next panel when this one is full.
          T* dd = d;
          for (int64_t ow = 0, room = nr - off; ow < wo; room = nr) {
            const int64_t run = std::min(wo - ow, room);
            copy_run(seg + ow, run, dd);
            ow += run;
            dd += run - nr + panel;
          }
        }
      }
    }
  }
}

// The adjoint of im2col: every column entry is added back where it was read from.
template <typename T>
void col2im_add(const ConvGeom& g, const T* col, int64_t ld, int64_t oh0, int64_t oh1, T* dxs) {
  const int64_t row = is_staged(g) ? staged_row(g) : g.w;
  const int64_t wq = is_staged(g) ? phase_w(g) : g.w, hs = is_staged(g) ? staged_h(g) : g.h;
  for (int64_t ci = 0; ci < g.c_in; ++ci) {
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      const T* rows = col + (ci * g.kh + ki) * g.kw * ld;
      for (int64_t oh = oh0; oh < oh1; ++oh) {
        T* d = dxs + (ci * hs + oh * g.sh + ki) * row;
        const T* s = rows + (oh - oh0) * g.wo;
        for (int64_t kj = 0, q = 0, off = 0; kj < g.kw; ++kj, s += ld) {
          T* seg = d + q * wq + off;
          for (int64_t ow = 0; ow < g.wo; ++ow) seg[ow] += s[ow];
          if (++q == g.sw) q = 0, ++off;
        }
      }
    }
  }
}

// How the batch is cut into tiles: blocks of `samples` whole samples, each sample in bands of `rows`
// output rows (rows < ho only when samples == 1). A thread always handles whole blocks, so the bands
// of one sample, which add into the same dx, stay on one thread.
struct Tiling {
  int64_t samples, rows;
  int64_t blocks;             // ceil(n / samples)
  int64_t cols;               // GEMM columns of a full tile: samples * rows * wo
  int64_t blocks_per_thread;  // least blocks that pay for a thread
};

// kk: rows of the im2col matrix; macs_per_col: multiply-adds per column of the pass.
Tiling make_tiling(const ConvGeom& g, int64_t kk, size_t elem, int64_t macs_per_col) {
  const int64_t P = g.ho * g.wo;
  const int64_t max_cols = std::max<int64_t>(g.wo, kColTileBytes / (kk * int64_t(elem)));
  Tiling t{1, g.ho, 0, 0, 1};
  if (is_pointwise(g)) {
    // One sample at a time, read in place (copying samples into a block costs more than it saves).
  } else if (P > max_cols) {
    t.rows = max_cols / g.wo;
  } else if (2 * P < kTileCols) {
    // Enough samples for kTileCols columns, but no more than an even share of the batch per thread.
    // A sample with half as many columns or more stays alone: copying y out of a block costs more than
    // the wider GEMM saves.
    const int64_t useful = std::max<int64_t>(1, g.n * P * macs_per_col / kMinMacsPerThread);
    const int64_t threads = std::min<int64_t>(num_threads(), useful);
    t.samples = std::min({(kTileCols + P - 1) / P, max_cols / P, (g.n + threads - 1) / threads});
  }
  t.blocks = (g.n + t.samples - 1) / t.samples;
  t.cols = t.samples * t.rows * g.wo;
  const int64_t macs_per_block = t.samples * P * macs_per_col;
  t.blocks_per_thread = std::max<int64_t>(1, (kMinMacsPerThread + macs_per_block - 1) / macs_per_block);
  return t;
}

// acc[co * kSumLanes + l] += the sum of every kSumLanes-th element of dy's plane co from l on, for
// `planes` planes of P. Independent lanes let the compiler vectorise without reordering any sum. (The
// direct path sums db from its packed dy instead, in the lanes of its vectors: pack_dy.)
constexpr int64_t kSumLanes = 16;
template <typename T>
void add_plane_sums(const T* dy, int64_t planes, int64_t P, T* acc) {
  for (int64_t co = 0; co < planes; ++co, acc += kSumLanes) {
    const T* d = dy + co * P;
    T a[kSumLanes];  // a local copy, which no store through d can alias
    std::copy_n(acc, kSumLanes, a);
    int64_t p = 0;
    for (; p + kSumLanes <= P; p += kSumLanes)
      for (int64_t l = 0; l < kSumLanes; ++l) a[l] += d[p + l];
    for (int64_t l = 0; p + l < P; ++l) a[l] += d[p + l];
    std::copy_n(a, kSumLanes, acc);
  }
}
// db from lane sums of `chunks` areas of c_out * kSumLanes, added in a fixed order.
template <typename T>
void reduce_plane_sums(const T* acc, int64_t chunks, int64_t c_out, T* db) {
  for (int64_t co = 0; co < c_out; ++co) {
    T s = T(0);
    for (int64_t c = 0; c < chunks; ++c)
      for (int64_t l = 0; l < kSumLanes; ++l) s += acc[(c * c_out + co) * kSumLanes + l];
    db[co] = s;
  }
}
// ---- Direct convolution (conv_direct.h): no im2col matrix, the micro-kernels read the staged sample.
// A vector covers up to `lanes` pixels of one output row, so rows much shorter than a vector waste
// lanes: the path is taken when at least 3/4 of the lanes carry pixels (256-bit vectors for short rows).

template <typename T>
const DirectConvKernels<T>* direct_kernels(const ConvGeom& g) {
#ifdef PYDL_X86
  if (simd_level() != SimdLevel::avx512 || is_pointwise(g)) return nullptr;
  // Lanes of the vectors that cover an output row which carry pixels, in units of 1/4.
  const auto lane_use4 = [&g](int lanes) { return 4 * g.wo / ((g.wo + lanes - 1) / lanes * lanes); };
  const DirectConvKernels<T>*wide, *narrow;
  if constexpr (std::is_same_v<T, float>) {
    wide = &conv_avx512::kernels_f32;
    narrow = &conv_avx512::narrow_f32;
  } else {
    wide = &conv_avx512::kernels_f64;
    narrow = &conv_avx512::narrow_f64;
  }
  if (lane_use4(wide->lanes) >= 3) return wide;
  if (lane_use4(narrow->lanes) >= 3) return narrow;
  return nullptr;
#else
  (void)g;
  return nullptr;
#endif
}

// The direct path stages every sample (also without padding or stride): its vectors may read past a
// row's end, and `lanes` elements of zeroed slack past the last row keep those reads inside the buffer.
int64_t direct_staged_size(const ConvGeom& g, int lanes) { return g.c_in * staged_h(g) * staged_row(g) + lanes; }

// The staged offset of every tap (ci, ki, kj): row oh * sh + ki of channel ci, phase kj % sw, kj / sw in.
const int64_t* direct_offsets(const ConvGeom& g) {
  thread_local std::vector<int64_t> off;
  off.resize(size_t(g.c_in * g.kh * g.kw));
  const int64_t row = staged_row(g), wq = phase_w(g);
  size_t k = 0;
  for (int64_t ci = 0; ci < g.c_in; ++ci)
    for (int64_t ki = 0; ki < g.kh; ++ki)
      for (int64_t kj = 0; kj < g.kw; ++kj) off[k++] = (ci * staged_h(g) + ki) * row + (kj % g.sw) * wq + kj / g.sw;
  return off.data();
}

template <typename T>
bool forward_direct(const ConvGeom& g, const T* x, const T* w, const T* b, bool relu, T* y) {
  const DirectConvKernels<T>* dk = direct_kernels<T>(g);
  if (!dk) return false;
  const int64_t K = g.c_in * g.kh * g.kw, P = g.ho * g.wo, mr = dk->mr;
  const DirectConv<T> d{K, direct_offsets(g), g.c_out, g.ho, g.wo, g.sh * staged_row(g)};
  T* wp = workspace<T>(kCallerPacked, (g.c_out + mr - 1) / mr * mr * K);
  for (int64_t co = 0; co < g.c_out; ++co)
    for (int64_t k = 0; k < K; ++k) wp[co / mr * mr * K + k * mr + co % mr] = w[co * K + k];
  const int64_t size = direct_staged_size(g, dk->lanes);
  const int64_t per_thread = std::max<int64_t>(1, kMinMacsPerThread / std::max<int64_t>(1, g.c_out * K * P));
  parallel_for(g.n, per_thread, [&](int64_t n0, int64_t n1) {
    T* xs = workspace<T>(kStaged, size);
    std::fill(xs, xs + size, T(0));
    for (int64_t n = n0; n < n1; ++n) {
      stage_sample(g, x + n * g.c_in * g.h * g.w, xs);
      dk->forward(d, wp, b, relu, xs, y + n * g.c_out * P);
    }
  });
  return true;
}

// dW is summed in this many partial sums over chunks of samples, however many threads share them: the
// chunks, not the threads, fix the order of the additions, so the result never depends on the threads.
constexpr int64_t kGradChunks = 8;

template <typename T>
bool backward_direct(const ConvGeom& g, const T* x, const T* w, const T* dy, const T* relu_y, T* dx, T* dw, T* db) {
  const DirectConvKernels<T>* dk = direct_kernels<T>(g);
  if (!dk) return false;
  const int64_t K = g.c_in * g.kh * g.kw, P = g.ho * g.wo, mk = dk->mk, lanes = dk->lanes;
  const DirectConv<T> d{K, direct_offsets(g), g.c_out, g.ho, g.wo, g.sh * staged_row(g)};
  const int64_t per_thread =
      std::max<int64_t>(1, kMinMacsPerThread / std::max<int64_t>(1, g.c_out * K * P * (dx ? 2 : 1)));
  // Each chunk of samples sums dW in its own area; the areas are added in a fixed order.
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(kGradChunks, g.n / per_thread));
  const int64_t gsize = g.c_out * K;
  // db's lane sums follow, per chunk, while its dy is still in cache.
  T* partial = workspace<T>(kCaller, chunks * (gsize + g.c_out * kSumLanes));
  T* bsums = partial + chunks * gsize;
  const int64_t channels = (g.c_out + dk->mc - 1) / dk->mc * dk->mc;  // pack_dy's, zeros past c_out
  T* wtp = workspace<T>(kCallerPacked, dx ? (K + mk - 1) / mk * mk * channels : 0);
  if (dx) {
    std::fill(wtp, wtp + (K + mk - 1) / mk * mk * channels, T(0));
    for (int64_t co = 0; co < g.c_out; ++co)
      for (int64_t k = 0; k < K; ++k) wtp[k / mk * mk * channels + co * mk + k % mk] = w[co * K + k];
  }
  // dW's tiles run over blocks of staged samples: with one sample of 8 x 8 outputs (shape 3 of
  // scripts/bench_conv.py) loading and storing a tile's sums cost as much as its multiply-adds.
  const int64_t size = direct_staged_size(g, dk->lanes);
  const int64_t packed = channels * g.ho * ((g.wo + lanes - 1) / lanes) * lanes;
  const int64_t block = std::max<int64_t>(
      1, std::min<int64_t>((g.n + chunks - 1) / chunks, kDirectBlockBytes / ((size + packed) * int64_t(sizeof(T)))));
  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    T* xs = workspace<T>(kStaged, (block + 1) * size + block * packed);
    T* dxs = xs + block * size;
    T* dyp = dxs + size;
    std::fill(xs, xs + block * size, T(0));  // the padding, which stage_sample leaves alone
    for (int64_t c = c0; c < c1; ++c) {
      T* gacc = partial + c * gsize;
      std::fill(gacc, gacc + gsize, T(0));
      T* bs = bsums + c * g.c_out * kSumLanes;
      if (db) std::fill(bs, bs + g.c_out * kSumLanes, T(0));
      const int64_t last = g.n * (c + 1) / chunks;
      for (int64_t n0 = g.n * c / chunks; n0 < last; n0 += block) {
        const int64_t nb = std::min(block, last - n0);
        for (int64_t s = 0; s < nb; ++s) {
          stage_sample(g, x + (n0 + s) * g.c_in * g.h * g.w, xs + s * size);
          const int64_t at = (n0 + s) * g.c_out * P;
          dk->pack_dy(d, dk->mc, dy + at, relu_y ? relu_y + at : nullptr, dyp + s * packed, db ? bs : nullptr,
                      kSumLanes);
        }
        dk->grad_w(d, dyp, packed, xs, size, gacc, nb);
        for (int64_t n = n0; n < n0 + nb; ++n) {
          if (!dx) continue;
          std::fill(dxs, dxs + size, T(0));
          dk->grad_x(d, wtp, dyp + (n - n0) * packed, dxs);
          unstage_sample(g, dxs, dx + n * g.c_in * g.h * g.w);
        }
      }
    }
  });
  std::copy_n(partial, gsize, dw);
  for (int64_t c = 1; c < chunks; ++c)
    for (int64_t i = 0; i < gsize; ++i) dw[i] += partial[c * gsize + i];
  if (db) reduce_plane_sums(bsums, chunks, g.c_out, db);
  return true;
}

template <typename T>
void bias_grad(const ConvGeom& g, const T* dy, T* db) {
  T* acc = workspace<T>(kCaller, g.c_out * kSumLanes);
  std::fill(acc, acc + g.c_out * kSumLanes, T(0));
  for (int64_t n = 0; n < g.n; ++n) add_plane_sums(dy + n * g.c_out * g.ho * g.wo, g.c_out, g.ho * g.wo, acc);
  reduce_plane_sums(acc, 1, g.c_out, db);
}

// The fused ReLU of the GEMM paths: `rows` planes of y (P apart), `cols` outputs each, right after the
// product wrote them (still in cache).
template <typename T>
void relu_planes(T* y, int64_t rows, int64_t cols, int64_t P) {
  for (int64_t r = 0; r < rows; ++r) pydl::relu(y + r * P, y + r * P, cols);
}

}  // namespace

template <typename T>
void conv2d_forward(const ConvGeom& g, const T* x, const T* w, const T* b, bool relu, T* y) {
  if (forward_direct(g, x, w, b, relu, y)) return;
  const int64_t K = g.c_in * g.kh * g.kw, P = g.ho * g.wo;
  if (is_pointwise(g)) {
    const Tiling t = make_tiling(g, K, sizeof(T), g.c_out * K);
    parallel_for(t.blocks, t.blocks_per_thread, [&](int64_t n0, int64_t n1) {  // a block is one sample
      for (int64_t n = n0; n < n1; ++n) {
        T* yn = y + n * g.c_out * P;
        if (b) {
          for (int64_t co = 0; co < g.c_out; ++co) std::fill(yn + co * P, yn + (co + 1) * P, b[co]);
        }
        gemm(false, false, g.c_out, P, K, T(1), w, K, x + n * K * P, P, b ? T(1) : T(0), yn, P);
        if (relu) relu_planes(yn, g.c_out, P, P);
      }
    });
    return;
  }
  // The bias rides along as one more column of W times a row of ones under col: the GEMM then writes
  // y once, where filling y with the bias first cost a whole extra pass (20% of a 3x3, 1-channel conv).
  const int64_t kk = b ? K + 1 : K;
  if (b) {
    T* wb = workspace<T>(kCaller, g.c_out * kk);
    for (int64_t co = 0; co < g.c_out; ++co) {
      std::copy(w + co * K, w + (co + 1) * K, wb + co * kk);
      wb[co * kk + K] = b[co];
    }
    w = wb;
  }
  // W is packed once for all tiles, and im2col writes the GEMM's packed B itself.
  const PackedGemm<T> packed;
  const int64_t nr = packed.nr();
  T* wp = workspace<T>(kCallerPacked, packed.a_size(g.c_out, kk));
  packed.pack_a(g.c_out, kk, w, kk, wp);
  const Tiling t = make_tiling(g, kk, sizeof(T), g.c_out * K);
  parallel_for(t.blocks, t.blocks_per_thread, [&](int64_t b0, int64_t b1) {
    T* xs = workspace<T>(kStaged, staged_size(g));
    std::fill(xs, xs + staged_size(g), T(0));  // the padding, which stage_sample leaves alone
    T* col = workspace<T>(kCol, packed.b_size(t.cols, kk));
    T* rows = workspace<T>(kRows, t.samples > 1 ? g.c_out * t.cols : 0);
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t n0 = blk * t.samples, nb = std::min(g.n - n0, t.samples);
      for (int64_t oh0 = 0; oh0 < g.ho; oh0 += t.rows) {
        const int64_t oh1 = std::min(g.ho, oh0 + t.rows), cols = (oh1 - oh0) * g.wo, N = nb * cols;
        for (int64_t s = 0; s < nb; ++s) {
          const T* src = x + (n0 + s) * g.c_in * g.h * g.w;
          if (is_staged(g)) {
            if (oh0 == 0) stage_sample(g, src, xs);  // the bands of a sample (then nb == 1) share one staging
            src = xs;
          }
          im2col_packed(g, src, oh0, oh1, s * cols, nr, kk, col);
        }
        if (b) {
          for (int64_t j = 0; j < N; j += nr) std::fill_n(col + j * kk + K * nr, nr, T(1));
        }
        T* yb = y + n0 * g.c_out * P + oh0 * g.wo;
        if (nb == 1) {
          packed.multiply(g.c_out, N, kk, T(1), wp, col, T(0), yb, P);
          if (relu) relu_planes(yb, g.c_out, N, P);
          continue;
        }
        // The product is (c_out, nb * P), y holds the block as (nb, c_out, P): one copy per output plane.
        packed.multiply(g.c_out, N, kk, T(1), wp, col, T(0), rows, N);
        if (relu) relu_planes(rows, g.c_out, N, N);
        for (int64_t s = 0; s < nb; ++s) {
          for (int64_t co = 0; co < g.c_out; ++co) {
            std::copy_n(rows + co * N + s * P, P, yb + (s * g.c_out + co) * P);
          }
        }
      }
    }
  });
}

template <typename T>
void conv2d_backward(const ConvGeom& g, const T* x, const T* w, const T* dy, const T* relu_y, T* dx, T* dw, T* db) {
  if (backward_direct(g, x, w, dy, relu_y, dx, dw, db)) return;
  if (relu_y) {  // the GEMM paths read dy more than once: mask it once
    const int64_t n = g.n * g.c_out * g.ho * g.wo;
    T* dz = workspace<T>(kCallerDy, n);
    activation_backward(Activation::relu, relu_y, dy, dz, n);
    dy = dz;
  }
  const int64_t K = g.c_in * g.kh * g.kw, P = g.ho * g.wo;
  const bool pointwise = is_pointwise(g);
  const Tiling t = make_tiling(g, K, sizeof(T), g.c_out * K * (dx ? 2 : 1));

  // Each chunk of blocks sums its own dw, and the chunks are added in a fixed order afterwards, so
  // the result does not depend on thread timing. They sum dw^T (K x c_out): c_out is often a multiple
  // of the GEMM's 32-wide micro-tile and K long, where dw's own c_out x K shape (16 x 9 for a 3x3,
  // 1-channel conv) left most of each micro-tile idle, running at 17 GFLOP/s instead of 24.
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(kGradChunks, t.blocks / t.blocks_per_thread));
  T* partial = workspace<T>(kCaller, chunks * K * g.c_out);

  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    T* xs = workspace<T>(kStaged, 2 * staged_size(g));
    T* dxs = xs + staged_size(g);
    std::fill(xs, xs + staged_size(g), T(0));  // the padding, which stage_sample leaves alone
    T* col = workspace<T>(kCol, pointwise ? 0 : 2 * K * t.cols);
    T* dcol = col + K * t.cols;
    T* dy_rows = workspace<T>(kRows, t.samples > 1 ? g.c_out * t.cols : 0);
    for (int64_t c = c0; c < c1; ++c) {
      T* dwt = partial + c * K * g.c_out;
      bool first = true;
      for (int64_t blk = t.blocks * c / chunks; blk < t.blocks * (c + 1) / chunks; ++blk) {
        const int64_t n0 = blk * t.samples, nb = std::min(g.n - n0, t.samples);
        if (pointwise) {  // one sample (nb == 1): x[n0] is its col and dx[n0] its dcol
          gemm(false, true, K, g.c_out, P, T(1), x + n0 * K * P, P, dy + n0 * g.c_out * P, P, first ? T(0) : T(1), dwt,
               g.c_out);
          if (dx) gemm(true, false, K, P, g.c_out, T(1), w, K, dy + n0 * g.c_out * P, P, T(0), dx + n0 * K * P, P);
          first = false;
          continue;
        }
        for (int64_t oh0 = 0; oh0 < g.ho; oh0 += t.rows) {
          const int64_t oh1 = std::min(g.ho, oh0 + t.rows), cols = (oh1 - oh0) * g.wo, N = nb * cols;
          for (int64_t s = 0; s < nb; ++s) {
            const T* src = x + (n0 + s) * g.c_in * g.h * g.w;
            if (is_staged(g)) {
              if (oh0 == 0) stage_sample(g, src, xs);
              src = xs;
            }
            im2col(g, src, oh0, oh1, col + s * cols, N);
          }
          // dY of the tile as a (c_out, N) matrix: in place for one sample, gathered for a block.
          const T* dyb = dy + n0 * g.c_out * P + oh0 * g.wo;
          int64_t ld = P;
          if (nb > 1) {
            for (int64_t s = 0; s < nb; ++s) {
              for (int64_t co = 0; co < g.c_out; ++co) {
                std::copy_n(dyb + (s * g.c_out + co) * P, P, dy_rows + co * N + s * P);
              }
            }
            dyb = dy_rows;
            ld = N;
          }
          gemm(false, true, K, g.c_out, N, T(1), col, N, dyb, ld, first ? T(0) : T(1), dwt, g.c_out);
          first = false;
          if (!dx) continue;
          gemm(true, false, K, N, g.c_out, T(1), w, K, dyb, ld, T(0), dcol, N);
          for (int64_t s = 0; s < nb; ++s) {
            T* dxn = dx + (n0 + s) * g.c_in * g.h * g.w;
            T* dst = is_staged(g) ? dxs : dxn;
            if (oh0 == 0) std::fill(dst, dst + (is_staged(g) ? staged_size(g) : g.c_in * g.h * g.w), T(0));
            col2im_add(g, dcol + s * cols, N, oh0, oh1, dst);
            if (oh1 == g.ho && is_staged(g)) unstage_sample(g, dxs, dxn);
          }
        }
      }
    }
  });
  for (int64_t co = 0; co < g.c_out; ++co) {
    for (int64_t k = 0; k < K; ++k) {
      T s = T(0);
      for (int64_t c = 0; c < chunks; ++c) s += partial[(c * K + k) * g.c_out + co];
      dw[co * K + k] = s;
    }
  }

  if (db) bias_grad(g, dy, db);
}

template void conv2d_forward<float>(const ConvGeom&, const float*, const float*, const float*, bool, float*);
template void conv2d_forward<double>(const ConvGeom&, const double*, const double*, const double*, bool, double*);
template void conv2d_backward<float>(const ConvGeom&, const float*, const float*, const float*, const float*, float*,
                                     float*,
                                     float*);
template void conv2d_backward<double>(const ConvGeom&, const double*, const double*, const double*, const double*,
                                      double*,
                                      double*, double*);

}  // namespace pydl
