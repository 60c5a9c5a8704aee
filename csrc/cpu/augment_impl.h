// The augmentation loop, written once and compiled per instruction set: augment.cpp, augment_avx2.cpp and
// augment_avx512.cpp include this inside their own namespace (needs <algorithm>, <cstdint>, <type_traits>,
// <vector>, and <immintrin.h> for the AVX builds).
// Per channel: the source rows widened into a zero-bordered plane, then per output row one fixed-length
// loop reads the shifted (or mirrored) window and normalizes it, in whole vector registers. With AVX-512BW,
// uint8 -> float32 needs no plane: masked byte loads give the padding's zeros (bytes_to_float32).

#include "lanes.h"

// One vector register of the instruction set this file is compiled for.
#if defined(__AVX512F__)
constexpr int kAugmentVectorBytes = 64;
#elif defined(__AVX2__)
constexpr int kAugmentVectorBytes = 32;
#else
constexpr int kAugmentVectorBytes = 16;
#endif

// Calls chunk(j) for whole chunks [j, j + kLanes) covering [0, n), the last one ending at n and possibly
// overlapping the one before (an output computed twice gets the same value), so a row needs no remainder
// loop; a row shorter than a chunk goes one element at a time through one(j).
template <int kLanes, typename Chunk, typename One>
static inline void by_chunks(int64_t n, Chunk chunk, One one) {
  if (n < kLanes) {
    for (int64_t j = 0; j < n; ++j) one(j);
    return;
  }
  for (int64_t j = 0; j + kLanes < n; j += kLanes) chunk(j);
  chunk(n - kLanes);
}

template <typename V, int kLanes>
static inline V reversed(V v) {
  typedef typename std::conditional<sizeof(v[0]) == 4, int32_t, int64_t>::type Index;
  typename Lanes<Index, kLanes>::type last_first;
  for (int l = 0; l < kLanes; ++l) last_first[l] = kLanes - 1 - l;
  return __builtin_shuffle(v, last_first);
}

// kLanes bytes from p as int32 lanes: one zero-extending load where the instruction set has it (GCC
// widens unsigned char vectors one lane at a time).
template <int kLanes>
static inline typename Lanes<int32_t, kLanes>::type widened_bytes(const uint8_t* p) {
  typename Lanes<int32_t, kLanes>::type v;
#if defined(__AVX512F__)
  if constexpr (kLanes == 16) {
    const __m512i w = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    __builtin_memcpy(&v, &w, sizeof v);
    return v;
  }
#endif
#if defined(__AVX2__)
  if constexpr (kLanes == 8) {
    const __m256i w = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    __builtin_memcpy(&v, &w, sizeof v);
    return v;
  }
#endif
  for (int l = 0; l < kLanes; ++l) v[l] = p[l];
  return v;
}

// kLanes source values as output lanes.
template <typename VD, int kLanes, typename S>
static inline VD widened(const S* p) {
  if constexpr (sizeof(S) == 1) {
    return __builtin_convertvector(widened_bytes<kLanes>(p), VD);
  } else {
    return __builtin_convertvector(load_lanes<typename Lanes<S, kLanes>::type>(p), VD);
  }
}

enum class Source { padding, forward, mirrored };

// What (v - m) * s reads: nothing (no normalization), the channel's m[0] and s[0] in every lane, or the
// output feature's m[j] and s[j].
enum class Normalization { none, per_channel, per_feature };

template <Normalization kNorm, typename V, typename D>
static inline V normalized(V v, const D* __restrict m, const D* __restrict s, int64_t j) {
  if constexpr (kNorm == Normalization::per_channel) return (v - m[0]) * s[0];
  if constexpr (kNorm == Normalization::per_feature) return (v - load_lanes<V>(m + j)) * load_lanes<V>(s + j);
  return v;
}

// One output row: each value is padding (0), window[j] or last[-j] (mirrored), then normalized.
template <Source kSource, Normalization kNorm, int L, typename D>
static inline void output_row(D* __restrict row, int64_t n, const D* window, const D* last, const D* __restrict m,
                              const D* __restrict s) {
  using V = typename Lanes<D, L>::type;
  by_chunks<L>(
      n,
      [&](int64_t j) {
        V v{};
        if constexpr (kSource == Source::forward) v = load_lanes<V>(window + j);
        if constexpr (kSource == Source::mirrored) v = reversed<V, L>(load_lanes<V>(last - j - (L - 1)));
        store_lanes(row + j, normalized<kNorm>(v, m, s, j));
      },
      [&](int64_t j) {
        const D v = kSource == Source::padding ? D(0) : (kSource == Source::forward ? window[j] : last[-j]);
        const int64_t k = kNorm == Normalization::per_feature ? j : 0;
        row[j] = kNorm == Normalization::none ? v : (v - m[k]) * s[k];
      });
}

template <Normalization kNorm, int L, typename D>
static inline void output_row(Source source, D* row, int64_t n, const D* window, const D* last, const D* m,
                              const D* s) {
  switch (source) {
    case Source::padding: return output_row<Source::padding, kNorm, L>(row, n, window, last, m, s);
    case Source::forward: return output_row<Source::forward, kNorm, L>(row, n, window, last, m, s);
    case Source::mirrored: return output_row<Source::mirrored, kNorm, L>(row, n, window, last, m, s);
  }
}

// The mean (or scale) values that channel c's output feature f reads: the NULL of no normalization stays NULL.
template <Normalization kNorm, typename D>
static inline const D* normalization_at(const D* values, int64_t c, int64_t f) {
  if constexpr (kNorm == Normalization::none) {
    return values;
  } else {
    return values + (kNorm == Normalization::per_channel ? c : f);
  }
}

#if defined(__AVX512BW__) && defined(__AVX512VL__)
// uint8 -> float32 without the plane: a masked byte load reads only the columns inside the image and gives 0
// for the others (the zero padding). A window column's mask is the same on every row and channel, so the
// loops go column chunk by column chunk; rows and chunks wholly in the padding load nothing.
static inline __mmask16 columns_inside(int64_t first, int64_t width) {
  const int64_t lo = std::min<int64_t>(16, std::max<int64_t>(0, -first));
  const int64_t hi = std::max<int64_t>(0, std::min<int64_t>(16, width - first));
  return hi > lo ? __mmask16(((1u << hi) - 1u) & ~((1u << lo) - 1u)) : __mmask16(0);
}

template <bool kFlip, Normalization kNorm>
static void bytes_to_float32(const uint8_t* __restrict img, float* __restrict out, const PydlAugmentGeometry& g,
                             int64_t shift_y, int64_t shift_x, const float* __restrict mean,
                             const float* __restrict scale) {
  using V = Lanes<float, 16>::type;
  const int64_t H = g.height, W = g.width, Ho = g.out_height, Wo = g.out_width, plane = Ho * Wo;
  const int64_t top = std::clamp<int64_t>(-shift_y, 0, Ho), bottom = std::clamp<int64_t>(H - shift_y, top, Ho);
  by_chunks<16>(
      Wo,
      [&](int64_t j) {
        const int64_t first = (kFlip ? Wo - 16 - j : j) + shift_x;  // the source column of lane 0
        const __mmask16 inside = columns_inside(first, W);
        const int64_t loaded_end = inside ? bottom : top;  // output rows [top, loaded_end) read the image
        for (int64_t c = 0; c < g.channels; ++c) {
          const int64_t f = c * plane + j;
          const float* m = normalization_at<kNorm>(mean, c, f);
          const float* s = normalization_at<kNorm>(scale, c, f);
          auto store = [&](int64_t i, V v) { store_lanes(out + f + i * Wo, normalized<kNorm>(v, m, s, i * Wo)); };
          for (int64_t i = 0; i < top; ++i) store(i, V{});
          for (int64_t i = top; i < loaded_end; ++i) {
            // Within 15 bytes of the row: the masked-off lanes may lie before or after it.
            const uintptr_t at = reinterpret_cast<uintptr_t>(img + (c * H + i + shift_y) * W) + uintptr_t(first);
            const __m512 wide = _mm512_cvtepi32_ps(
                _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(inside, reinterpret_cast<const void*>(at))));
            V v;
            __builtin_memcpy(&v, &wide, sizeof v);
            store(i, kFlip ? reversed<V, 16>(v) : v);
          }
          for (int64_t i = loaded_end; i < Ho; ++i) store(i, V{});
        }
      },
      [](int64_t) {});  // never called: out_width >= 16 is whole chunks
}
#endif

template <typename S, typename D, Normalization kNorm>
static void augment_sample_impl(const S* __restrict img, D* __restrict out, const PydlAugmentGeometry& g,
                                int64_t shift_y, int64_t shift_x, bool flip, const D* __restrict mean,
                                const D* __restrict scale) {
#if defined(__AVX512BW__) && defined(__AVX512VL__)
  if constexpr (std::is_same<S, uint8_t>::value && std::is_same<D, float>::value) {
    if (g.out_width >= 16) {
      return flip ? bytes_to_float32<true, kNorm>(img, out, g, shift_y, shift_x, mean, scale)
                  : bytes_to_float32<false, kNorm>(img, out, g, shift_y, shift_x, mean, scale);
    }
  }
#endif
  constexpr int L = kAugmentVectorBytes / int(sizeof(D));  // outputs per chunk: one vector register
  using VD = typename Lanes<D, L>::type;
  const int64_t H = g.height, W = g.width, Ho = g.out_height, Wo = g.out_width;
  // A channel's source rows are widened into the middle of the rows of `plane`, Wo zeros at either side:
  // every output column j then reads plane[si][Wo + shift_x + j] (mirrored: column Wo - 1 - j), with no
  // padding cases, and a shift past the image reads only zeros, as the clipped one does. The whole
  // channel is widened before any output row reads it, so the reads find the values in L1, not in the
  // store buffer (a load across two recent stores waits for them).
  const int64_t sx = std::min(std::max(shift_x, -Wo), W), stride = W + 2 * Wo;
  thread_local std::vector<D> plane;  // this thread's, reused while the geometry stays: its borders stay 0
  thread_local int64_t plane_rows = -1, plane_width = -1, plane_border = -1;
  if (plane_rows != H || plane_width != W || plane_border != Wo) {
    plane.assign(size_t(H * stride), D(0));
    plane_rows = H, plane_width = W, plane_border = Wo;
  }
  const int64_t first = std::max<int64_t>(0, shift_y), end = std::min(H, shift_y + Ho);  // rows read
  for (int64_t c = 0; c < g.channels; ++c) {
    for (int64_t si = first; si < end; ++si) {
      const S* src = img + (c * H + si) * W;
      D* __restrict middle = plane.data() + si * stride + Wo;
      by_chunks<L>(
          W, [&](int64_t j) { store_lanes(middle + j, widened<VD, L>(src + j)); },
          [&](int64_t j) { middle[j] = D(src[j]); });
    }
    for (int64_t i = 0; i < Ho; ++i) {
      const int64_t f = (c * Ho + i) * Wo, si = i + shift_y;
      const bool inside = si >= 0 && si < H;
      const Source source = !inside ? Source::padding : (flip ? Source::mirrored : Source::forward);
      const D* window = plane.data() + (inside ? si : 0) * stride + Wo + sx;
      const D* last = window + (Wo - 1);  // mirrored, out[j] reads last[-j]
      output_row<kNorm, L>(source, out + f, Wo, window, last, normalization_at<kNorm>(mean, c, f),
                           normalization_at<kNorm>(scale, c, f));
    }
  }
}

template <typename S, typename D>
static void augment_sample(const void* img, void* out, const PydlAugmentGeometry* g, int64_t shift_y,
                           int64_t shift_x, int flip, const void* mean, const void* scale, int per_channel) {
  const auto* x = static_cast<const S*>(img);
  auto* o = static_cast<D*>(out);
  const auto *m = static_cast<const D*>(mean), *s = static_cast<const D*>(scale);
  if (!mean) return augment_sample_impl<S, D, Normalization::none>(x, o, *g, shift_y, shift_x, flip != 0, m, s);
  if (per_channel) {
    return augment_sample_impl<S, D, Normalization::per_channel>(x, o, *g, shift_y, shift_x, flip != 0, m, s);
  }
  augment_sample_impl<S, D, Normalization::per_feature>(x, o, *g, shift_y, shift_x, flip != 0, m, s);
}

static const PydlAugmentApi kAugmentApi = {{
    {augment_sample<uint8_t, float>, augment_sample<uint8_t, double>},
    {augment_sample<float, float>, augment_sample<float, double>},
    {augment_sample<double, float>, augment_sample<double, double>},
}};

const PydlAugmentApi* augment_table() { return &kAugmentApi; }
