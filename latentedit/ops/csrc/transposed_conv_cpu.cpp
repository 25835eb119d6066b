// StyleGAN2's up-sampling convolution, a 3x3 transposed convolution with stride 2 and no padding, on channels-last
// (NHWC) activations: y[oy, ox, o] = sum over (iy, ix, ky, kx) with oy = 2 iy + ky, ox = 2 ix + kx of
// x[iy, ix, i] w[i, o, ky, kx], times an optional per-sample output scale (the demodulation).
//
// Each output pixel of a phase (row parity, column parity) sees 1, 2 or 4 of the nine taps, so the kernel works on
// phases: for one output row and one block of B = 32 or 64 output channels it sweeps the pixels of one column
// parity in tiles of P pixels, keeping P x B/16 accumulators in AVX-512 registers across the input channels of the
// taps that reach them (a broadcast of x and B/16 weight vectors per input channel and tap), and writes each pixel
// once. oneDNN's stride-2 backward-data kernel ran these at 170-260 GFLOP/s on an AVX-512 host against ~400 for
// its regular convolutions (docs/ops.md). Large outputs are written with non-temporal stores: they leave the cache
// before the FIR epilogue reads them anyway, and the stores then skip reading the lines first.
//
// x: (N, I, H, W) channels-last float32; w: (Nw, O/B, 3, 3, I, B) packed (Nw = 1 shared or N per sample);
// oscale: (N, O) or empty. Returns (N, O, 2H+1, 2W+1) channels-last. Forward only: conv_transpose2d is the
// reference and the gradient path. Built only with AVX-512 (-march=native on such a CPU); elsewhere the function
// reports that it is not available and the caller never selects it (``transposed_conv_up2_native``).
#include <ATen/core/Tensor.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace latentedit {

#ifdef __AVX512F__
namespace {

constexpr int64_t kStreamBytes = int64_t(16) << 20;  // outputs above this are written past the cache

struct Taps {
  int n = 0;
  int64_t x[4];  // offsets into x of the first pixel's channels, per tap
  int64_t w[4];  // offsets into the packed weight block, per tap
};

struct Store {
  const float* scale;  // (B,) of this sample's output scale at this block, or nullptr
  bool stream;
};

// P pixels (input pixels x[t] + p I, outputs y + p ystep) x OB vectors of 16 output channels. KI > 0 is I known
// at compile time: the P pixels' channels are then constant offsets from one pointer (with a run-time I the P
// pointers took the general registers and GCC spilled an accumulator inside the loop).
template <int P, int OB, int KI>
inline void tile(const float* x, const float* w, float* y, int64_t I_, const Taps& taps, int64_t ystep,
                 const Store& st) {
  constexpr int B = 16 * OB;
  const int64_t I = KI > 0 ? KI : I_;
  __m512 acc[P][OB];
  for (int p = 0; p < P; ++p)
    for (int v = 0; v < OB; ++v) acc[p][v] = _mm512_setzero_ps();
  for (int t = 0; t < taps.n; ++t) {
    const float* xs = x + taps.x[t];
    const float* ws = w + taps.w[t];
    for (int64_t i = 0; i < I; ++i) {
      __m512 wv[OB];
      for (int v = 0; v < OB; ++v) wv[v] = _mm512_loadu_ps(ws + i * B + 16 * v);
      for (int p = 0; p < P; ++p) {
        const __m512 xb = _mm512_set1_ps(xs[p * I + i]);
        for (int v = 0; v < OB; ++v) acc[p][v] = _mm512_fmadd_ps(xb, wv[v], acc[p][v]);
      }
    }
  }
  if (st.scale != nullptr) {
    for (int v = 0; v < OB; ++v) {
      const __m512 s = _mm512_loadu_ps(st.scale + 16 * v);
      for (int p = 0; p < P; ++p) acc[p][v] = _mm512_mul_ps(acc[p][v], s);
    }
  }
  if (st.stream) {
    for (int p = 0; p < P; ++p)
      for (int v = 0; v < OB; ++v) _mm512_stream_ps(y + p * ystep + 16 * v, acc[p][v]);
  } else {
    for (int p = 0; p < P; ++p)
      for (int v = 0; v < OB; ++v) _mm512_storeu_ps(y + p * ystep + 16 * v, acc[p][v]);
  }
}

// A tile of `npix` <= P pixels: the widest instantiation that fits, so a row's remainder never runs pixel by pixel.
template <int P, int OB, int KI>
inline void tile_upto(int npix, const float* x, const float* w, float* y, int64_t I, const Taps& taps,
                      int64_t ystep, const Store& st) {
  if constexpr (P == 1) {
    tile<1, OB, KI>(x, w, y, I, taps, ystep, st);
  } else {
    if (npix == P) tile<P, OB, KI>(x, w, y, I, taps, ystep, st);
    else tile_upto<P - 1, OB, KI>(npix, x, w, y, I, taps, ystep, st);
  }
}

// One sample, one output row, one block of B output channels: every pixel of the row.
template <int P, int OB, int KI>
void output_row(const float* x, const float* w, float* yrow, int64_t H, int64_t W, int64_t I, int64_t O, int64_t oy,
                const Store& st) {
  constexpr int64_t B = 16 * OB;
  int nky = 0;
  int64_t ky[2], iy[2];
  if (oy % 2 == 0) {  // even rows: ky = 0 from input row oy/2, ky = 2 from the row above
    if (oy / 2 < H) { ky[nky] = 0; iy[nky++] = oy / 2; }
    if (oy / 2 >= 1) { ky[nky] = 2; iy[nky++] = oy / 2 - 1; }
  } else {
    ky[nky] = 1; iy[nky++] = oy / 2;
  }
  // Runs of output columns ox = 2 n + px whose pixels see the same taps: (px, first n, end n, kx list).
  struct Run { int px; int64_t n0, n1; int nkx; int64_t kx[2], dx[2]; };
  const Run runs[4] = {
      {1, 0, W, 1, {1, 0}, {0, 0}},           // odd columns: kx = 1 from input column n
      {0, 0, 1, 1, {0, 0}, {0, 0}},           // column 0: kx = 0 only
      {0, 1, W, 2, {0, 2}, {0, -1}},          // even interior columns: kx = 0 from n, kx = 2 from n - 1
      {0, W, W + 1, 1, {2, 0}, {-1, 0}},      // column 2W: kx = 2 only
  };
  for (const Run& r : runs) {
    Taps taps;
    for (int a = 0; a < nky; ++a)
      for (int b = 0; b < r.nkx; ++b) {
        taps.x[taps.n] = (iy[a] * W + r.n0 + r.dx[b]) * I;
        taps.w[taps.n++] = (ky[a] * 3 + r.kx[b]) * I * B;
      }
    for (int64_t n = r.n0; n < r.n1; n += P) {
      const int npix = static_cast<int>(std::min<int64_t>(P, r.n1 - n));
      Taps t = taps;
      for (int k = 0; k < t.n; ++k) t.x[k] += (n - r.n0) * I;
      tile_upto<P, OB, KI>(npix, x, w, yrow + (2 * n + r.px) * O, I, t, 2 * O, st);
    }
  }
}

template <int P, int OB, int KI>
void transposed_conv_up2(const float* x, const float* w, const float* oscale, float* y, int64_t N, int64_t Nw,
                         int64_t I, int64_t O, int64_t H, int64_t W, bool stream) {
  constexpr int64_t B = 16 * OB;
  const int64_t OH = 2 * H + 1, OW = 2 * W + 1, nob = O / B;
  at::parallel_for(0, N * OH * nob, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t ob = task % nob, oy = (task / nob) % OH, n = task / (nob * OH);
      const float* wn = w + ((Nw == 1 ? 0 : n) * nob + ob) * 9 * I * B;
      const Store st{oscale != nullptr ? oscale + n * O + ob * B : nullptr, stream};
      output_row<P, OB, KI>(x + n * H * W * I, wn, y + ((n * OH + oy) * OW) * O + ob * B, H, W, I, O, oy, st);
    }
  });
  if (stream) _mm_sfence();
}

}  // namespace
#endif

bool transposed_conv_up2_native() {
#ifdef __AVX512F__
  return true;
#else
  return false;
#endif
}

namespace {
// Output channels per packed weight block (ops.up2_block on the Python side).
int64_t up2_block(int64_t O) { return O % 64 == 0 ? 64 : 32; }
}  // namespace

at::Tensor transposed_conv_up2_cpu(const at::Tensor& x_, const at::Tensor& w, const at::Tensor& oscale) {
  TORCH_CHECK(transposed_conv_up2_native(),
              "transposed_conv_up2: this build has no AVX-512 kernel; use conv_transpose2d (the reference)");
  TORCH_CHECK(x_.dim() == 4 && x_.scalar_type() == at::kFloat && x_.device().is_cpu(),
              "transposed_conv_up2: x must be a (N, I, H, W) float32 CPU tensor; got ", x_.sizes(), " ",
              x_.scalar_type());
  const at::Tensor x = x_.contiguous(at::MemoryFormat::ChannelsLast);
  const int64_t N = x.size(0), I = x.size(1), H = x.size(2), W = x.size(3);
  TORCH_CHECK(w.dim() == 6 && w.is_contiguous() && w.scalar_type() == at::kFloat && w.size(2) == 3 &&
                  w.size(3) == 3 && w.size(4) == I && (w.size(5) == 32 || w.size(5) == 64) &&
                  (w.size(0) == 1 || w.size(0) == N),
              "transposed_conv_up2: packed weight (1 or N, O/B, 3, 3, I, B) with B = 32 or 64 expected for x ",
              x.sizes(), "; got ", w.sizes());
  const int64_t B = w.size(5), O = w.size(1) * B;
  TORCH_CHECK(B == up2_block(O), "transposed_conv_up2: block ", up2_block(O),
              " expected for ", O, " output channels; got ", B);
  const bool has_scale = oscale.numel() > 0;
  TORCH_CHECK(!has_scale || (oscale.dim() == 2 && oscale.size(0) == N && oscale.size(1) == O &&
                             oscale.is_contiguous() && oscale.scalar_type() == at::kFloat),
              "transposed_conv_up2: out_scale (", N, ", ", O, ") float32 expected; got ", oscale.sizes());
  at::Tensor y = at::empty({N, O, 2 * H + 1, 2 * W + 1}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
#ifdef __AVX512F__
  const bool stream = y.numel() * 4 > kStreamBytes && reinterpret_cast<uintptr_t>(y.data_ptr<float>()) % 64 == 0;
  const float* s = has_scale ? oscale.data_ptr<float>() : nullptr;
  const float* xp = x.data_ptr<float>();
  const float* wp = w.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const int64_t Nw = w.size(0);
  auto run = [&](auto p, auto ob) {
    constexpr int P = decltype(p)::value, OB = decltype(ob)::value;
    switch (I) {  // StyleGAN2's channel counts get a compile-time I
      case 64: transposed_conv_up2<P, OB, 64>(xp, wp, s, yp, N, Nw, I, O, H, W, stream); break;
      case 128: transposed_conv_up2<P, OB, 128>(xp, wp, s, yp, N, Nw, I, O, H, W, stream); break;
      case 256: transposed_conv_up2<P, OB, 256>(xp, wp, s, yp, N, Nw, I, O, H, W, stream); break;
      case 512: transposed_conv_up2<P, OB, 512>(xp, wp, s, yp, N, Nw, I, O, H, W, stream); break;
      default: transposed_conv_up2<P, OB, 0>(xp, wp, s, yp, N, Nw, I, O, H, W, stream);
    }
  };
  // 6 x 4 and 10 x 2 accumulators: with 12 x 2 GCC spilled a weight vector inside the loop (64 -> 32 channels:
  // 1.01x oneDNN; 10 x 2 without the spill: 1.13-1.21x)
  if (B == 64) run(std::integral_constant<int, 6>(), std::integral_constant<int, 4>());
  else run(std::integral_constant<int, 10>(), std::integral_constant<int, 2>());
#endif
  return y;
}

}  // namespace latentedit
