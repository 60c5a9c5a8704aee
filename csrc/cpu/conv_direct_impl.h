// Direct-convolution micro-kernels (see conv_direct.h), written once against a vector interface V
// (T, R, W lanes, zero/load/set1/fma/add/relu, load_part (zeroing the other lanes)/store_part on the first n
// lanes) and included by each conv_direct_<isa>.cpp inside its own namespace, after <array> and <utility>.

// The pixel vectors of a sample, row by row: vector v covers output row v / per_row, columns
// (v % per_row) * W up to W of them. Fills in/out (staged and output offsets) and n (lanes used).
template <int W>
struct PixelVectors {
  int64_t per_row, wo, row_step;
  void at(int64_t v, int64_t& in, int64_t& out, int& n) const {
    const int64_t oh = v / per_row, ow = (v - oh * per_row) * W;
    in = oh * row_step + ow;
    out = oh * wo + ow;
    n = int(wo - ow < W ? wo - ow : W);
  }
};

// One table entry per tile size (M rows, N vectors) up to (MR, NV), so the edges of a sample get
// fully unrolled tiles too.
template <typename Fn, int MR, int NV, template <int, int> class Tile>
struct TileTable {
  template <size_t... I>
  static constexpr std::array<Fn, MR * NV> make(std::index_sequence<I...>) {
    return {&Tile<int(I) / NV + 1, int(I) % NV + 1>::run...};
  }
  static constexpr std::array<Fn, MR * NV> table = make(std::make_index_sequence<MR * NV>());
  static Fn get(int m, int nv) { return table[(m - 1) * NV + (nv - 1)]; }
};

// Forward: M output channels x N pixel vectors, over all K taps.
template <class V, int MR>
struct Fwd {
  using T = typename V::T;
  using R = typename V::R;
  using Fn = void (*)(const DirectConv<T>&, const T*, const T*, bool, const T*, const int64_t*, const int64_t*,
                      const int*, T*, int64_t);
  template <int M, int N>
  struct Tile {
    static void run(const DirectConv<T>& d, const T* a, const T* bias, bool relu, const T* xs, const int64_t* in,
                    const int64_t* out, const int* n, T* y, int64_t P) {
      R acc[M][N];
#pragma GCC unroll 16
      for (int i = 0; i < M; ++i) {
        const R b = bias ? V::set1(bias[i]) : V::zero();
#pragma GCC unroll 4
        for (int j = 0; j < N; ++j) acc[i][j] = b;
      }
      const int64_t* off = d.off;
      const T* s[N];
#pragma GCC unroll 4
      for (int j = 0; j < N; ++j) s[j] = xs + in[j];
      for (int64_t k = 0; k < d.K; ++k, a += MR) {
        const int64_t o = off[k];
        R x[N];
#pragma GCC unroll 4
        for (int j = 0; j < N; ++j) x[j] = V::load(s[j] + o);
#pragma GCC unroll 16
        for (int i = 0; i < M; ++i) {
          const R w = V::set1(a[i]);
#pragma GCC unroll 4
          for (int j = 0; j < N; ++j) acc[i][j] = V::fma(w, x[j], acc[i][j]);
        }
      }
#pragma GCC unroll 16
      for (int i = 0; i < M; ++i) {
#pragma GCC unroll 4
        for (int j = 0; j < N; ++j) {
          T* dst = y + i * P + out[j];
          const R v = relu ? V::relu(acc[i][j]) : acc[i][j];
          if (n[j] == V::W) V::store(dst, v);
          else V::store_part(dst, v, n[j]);
        }
      }
    }
  };
};

template <class V, int MR, int NV>
static void forward(const DirectConv<typename V::T>& d, const typename V::T* wp, const typename V::T* bias,
                    bool relu, const typename V::T* xs, typename V::T* y) {
  using F = Fwd<V, MR>;
  using Table = TileTable<typename F::Fn, MR, NV, F::template Tile>;
  constexpr int W = V::W;
  const PixelVectors<W> pv{(d.wo + W - 1) / W, d.wo, d.row_step};
  const int64_t nvec = d.ho * pv.per_row, P = d.ho * d.wo;
  for (int64_t co = 0; co < d.c_out; co += MR) {
    const int m = int(d.c_out - co < MR ? d.c_out - co : MR);
    const typename V::T* a = wp + co * d.K;
    for (int64_t v = 0; v < nvec; v += NV) {
      const int nv = int(nvec - v < NV ? nvec - v : NV);
      int64_t in[NV], out[NV];
      int n[NV];
      for (int j = 0; j < nv; ++j) pv.at(v + j, in[j], out[j], n[j]);
      Table::get(m, nv)(d, a, bias ? bias + co : nullptr, relu, xs, in, out, n, y + co * P, P);
    }
  }
}

// dy of one sample as grad_w reads it (conv_direct.h: pack_dy).
template <class V>
static void pack_dy(const DirectConv<typename V::T>& d, int mc, const typename V::T* dy, const typename V::T* relu_y,
                    typename V::T* dyp, typename V::T* sums, int64_t sums_ld) {
  constexpr int W = V::W;
  const int64_t c_out = d.c_out, ho = d.ho, wo = d.wo, P = ho * wo;
  for (int64_t c0 = 0; c0 < c_out; c0 += mc) {
    const int64_t channels = c_out - c0 < mc ? c_out - c0 : mc;
    for (int64_t oh = 0; oh < ho; ++oh) {
      for (int64_t ow = 0; ow < wo; ow += W) {
        const int n = int(wo - ow < W ? wo - ow : W);
        const int64_t at = c0 * P + oh * wo + ow;
        for (int64_t c = 0; c < channels; ++c, dyp += W) {
          const int64_t i = at + c * P;
          auto g = n == W ? V::load(dy + i) : V::load_part(dy + i, n);
          if (relu_y) g = V::where_positive(n == W ? V::load(relu_y + i) : V::load_part(relu_y + i, n), g);
          V::store(dyp, g);
          if (sums) V::store(sums + (c0 + c) * sums_ld, V::add(V::load(sums + (c0 + c) * sums_ld), g));
        }
        for (int64_t c = channels; c < mc; ++c, dyp += W) V::store(dyp, V::zero());
      }
    }
  }
}

// dW: M output channels x N taps, summed over all pixel vectors of the samples in registers, then over
// the lanes. dy comes packed, so the M channels of a vector lie W apart from one pointer: with one pointer
// per channel and a masked load for a row's last vector the loop's pointers and offsets no longer fitted
// the registers and were reloaded from the stack on every vector.
template <class V>
struct GradW {
  using T = typename V::T;
  using R = typename V::R;
  using Fn = void (*)(const DirectConv<T>&, const T*, int64_t, int, const T*, int64_t, const int64_t*, T*, int64_t);
  template <int M, int N>
  struct Tile {
    // dyp: the tile's first channel in its group of `group` packed channels; g: the tile's first sum, rows K apart.
    static void run(const DirectConv<T>& d, const T* dyp, int64_t dyp_stride, int group, const T* xs,
                    int64_t xs_stride, const int64_t* off, T* g, int64_t samples) {
      constexpr int W = V::W;
      R acc[M][N];
#pragma GCC unroll 8
      for (int i = 0; i < M; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < N; ++j) acc[i][j] = V::zero();
      int64_t o[N];  // in registers, with one pointer to the pixel vector: N pointers did not fit
#pragma GCC unroll 8
      for (int j = 0; j < N; ++j) o[j] = off[j];
      const int64_t per_row = (d.wo + W - 1) / W, rs = d.row_step, vstep = group * W;
      for (int64_t smp = 0; smp < samples; ++smp, xs += xs_stride, dyp += dyp_stride - d.ho * per_row * vstep) {
        const T* xr = xs;
        for (int64_t oh = 0; oh < d.ho; ++oh, xr += rs) {
          for (int64_t ow = 0; ow < d.wo; ow += W, dyp += vstep) {
            R dv[M];
#pragma GCC unroll 8
            for (int i = 0; i < M; ++i) dv[i] = V::load(dyp + i * W);
#pragma GCC unroll 8
            for (int j = 0; j < N; ++j) {
              const R xv = V::load(xr + ow + o[j]);
#pragma GCC unroll 8
              for (int i = 0; i < M; ++i) acc[i][j] = V::fma(dv[i], xv, acc[i][j]);
            }
          }
        }
      }
#pragma GCC unroll 8
      for (int i = 0; i < M; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < N; ++j) g[i * d.K + j] += V::sum(acc[i][j]);
    }
  };
};

template <class V, int MC, int KT>
static void grad_w(const DirectConv<typename V::T>& d, const typename V::T* dyp, int64_t dyp_stride,
                   const typename V::T* xs, int64_t xs_stride, typename V::T* gsum, int64_t samples) {
  using G = GradW<V>;
  using Table = TileTable<typename G::Fn, MC, KT, G::template Tile>;
  constexpr int W = V::W;
  const int64_t group = d.ho * ((d.wo + W - 1) / W) * MC * W;  // packed values of one group of MC channels
  for (int64_t co = 0; co < d.c_out; co += MC) {
    const int m = int(d.c_out - co < MC ? d.c_out - co : MC);
    for (int64_t k = 0; k < d.K; k += KT) {
      const int kt = int(d.K - k < KT ? d.K - k : KT);
      Table::get(m, kt)(d, dyp + co / MC * group, dyp_stride, MC, xs, xs_stride, d.off + k, gsum + co * d.K + k,
                        samples);
    }
  }
}

// dx: M taps x N pixel vectors, summed over output channels, added into the staged gradient. dy comes
// packed as for grad_w (groups of MC channels), W^T with its channels padded to whole groups (zeros): a
// vector's channels are W apart from one pointer and need no masked loads.
template <class V, int MK, int MC>
struct GradX {
  using T = typename V::T;
  using R = typename V::R;
  using Fn = void (*)(const DirectConv<T>&, const T*, const T*, int64_t, const int64_t*, const int64_t*, const int*,
                      T*);
  template <int M, int N>
  struct Tile {
    // dyp: the packed dy of the tile's first vector in the first group; group: values of one group.
    static void run(const DirectConv<T>& d, const T* a, const T* dyp, int64_t group, const int64_t* off,
                    const int64_t* in, const int* n, T* dxs) {
      constexpr int W = V::W;
      R acc[M][N];
#pragma GCC unroll 8
      for (int i = 0; i < M; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < N; ++j) acc[i][j] = V::zero();
      for (int64_t c0 = 0; c0 < d.c_out; c0 += MC, dyp += group) {
#pragma GCC unroll 8
        for (int c = 0; c < MC; ++c, a += MK) {
          R g[N];
#pragma GCC unroll 8
          for (int j = 0; j < N; ++j) g[j] = V::load(dyp + (j * MC + c) * W);
#pragma GCC unroll 8
          for (int i = 0; i < M; ++i) {
            const R w = V::set1(a[i]);
#pragma GCC unroll 8
            for (int j = 0; j < N; ++j) acc[i][j] = V::fma(w, g[j], acc[i][j]);
          }
        }
      }
      // Taps and vectors of one tile may touch the same element: add them one by one.
#pragma GCC unroll 8
      for (int i = 0; i < M; ++i) {
#pragma GCC unroll 8
        for (int j = 0; j < N; ++j) {
          T* p = dxs + off[i] + in[j];
          if (n[j] == V::W) V::store(p, V::add(V::load(p), acc[i][j]));
          else V::store_part(p, V::add(V::load_part(p, n[j]), acc[i][j]), n[j]);
        }
      }
    }
  };
};

template <class V, int MK, int NV, int MC>
static void grad_x(const DirectConv<typename V::T>& d, const typename V::T* wtp, const typename V::T* dyp,
                   typename V::T* dxs) {
  using G = GradX<V, MK, MC>;
  using Table = TileTable<typename G::Fn, MK, NV, G::template Tile>;
  constexpr int W = V::W;
  const PixelVectors<W> pv{(d.wo + W - 1) / W, d.wo, d.row_step};
  const int64_t nvec = d.ho * pv.per_row, group = nvec * MC * W, channels = (d.c_out + MC - 1) / MC * MC;
  // Pixel vectors outside, taps inside: dy of the vectors stays in L1 across all taps.
  for (int64_t v = 0; v < nvec; v += NV) {
    const int nv = int(nvec - v < NV ? nvec - v : NV);
    int64_t in[NV], out[NV];
    int n[NV];
    for (int j = 0; j < nv; ++j) pv.at(v + j, in[j], out[j], n[j]);
    for (int64_t k = 0; k < d.K; k += MK) {
      const int mk = int(d.K - k < MK ? d.K - k : MK);
      Table::get(mk, nv)(d, wtp + k * channels, dyp + v * MC * W, group, d.off + k, in, n, dxs);
    }
  }
}

template <class V, int MR, int NV, int MC, int KT, int MK, int NVX>
static constexpr DirectConvKernels<typename V::T> make_direct_kernels() {
  return {V::W, MR, MC, MK, forward<V, MR, NV>, pack_dy<V>, grad_w<V, MC, KT>, grad_x<V, MK, NVX, MC>};
}
