// upfirdn2d on the CPU: upsample (zero insertion), pad/crop, FIR filter, downsample, computed without ever
// materialising the zero-stuffed or padded image and without computing the samples the downsampling drops.
//
// Output row oy gathers the input rows whose taps land on it (polyphase in y). A separable filter (1-D, or a 2-D
// filter that is an outer product) first combines those rows vertically into one zero-padded row buffer, then
// filters it horizontally; a general 2-D filter filters each contributing row with its filter row and accumulates.
// Horizontally, output sample ox = U*m + ph (phase ph) reads buffer[D*m + off] for each tap of that phase, so every
// inner loop is a unit- or D-strided axpy the compiler vectorises. NCHW runs rows of one plane; NHWC (channels-last)
// vectorises over channels instead.
// Only the headers the kernels need (not torch/extension.h): keeps the JIT build short.
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace latentedit {
namespace {

inline int64_t floordiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t posmod(int64_t a, int64_t b) { return ((a % b) + b) % b; }

struct Tap {
  int64_t k;    // filter index
  int64_t off;  // buffer offset for m = 0
};

// Horizontal plan: which taps feed which output phase, and the zero-padded row buffer geometry.
struct HPlan {
  int64_t U, D, OW, L, BL, copy_n, maxlen;
  std::vector<std::vector<Tap>> taps;  // per phase
  std::vector<int64_t> len;            // outputs per phase
};

HPlan make_hplan(int64_t W, int64_t OW, int64_t U, int64_t D, int64_t p0, int64_t fw) {
  HPlan h;
  h.U = U; h.D = D; h.OW = OW;
  h.L = p0 > 0 ? p0 / U : 0;
  const int64_t xmax = D * (OW - 1) + fw - 1 - p0;
  h.BL = std::max<int64_t>(h.L + floordiv(xmax, U) + 1, 1);
  h.copy_n = std::min<int64_t>(std::max<int64_t>(h.BL - h.L, 0), W);
  h.taps.resize(U);
  h.len.resize(U);
  h.maxlen = 0;
  for (int64_t ph = 0; ph < U; ++ph) {
    h.len[ph] = ph < OW ? (OW - 1 - ph) / U + 1 : 0;
    h.maxlen = std::max(h.maxlen, h.len[ph]);
    for (int64_t k = 0; k < fw; ++k) {
      const int64_t num = D * ph + k - p0;
      if (posmod(num, U) == 0) h.taps[ph].push_back({k, floordiv(num, U) + h.L});
    }
  }
  return h;
}

// Vertical taps feeding output row oy: (filter row, input row).
inline int vtaps(int64_t oy, int64_t H, int64_t U, int64_t D, int64_t p0, int64_t fh, int64_t* ks, int64_t* rows) {
  int n = 0;
  for (int64_t k = 0; k < fh; ++k) {
    const int64_t Y = D * oy + k - p0;
    if (posmod(Y, U) != 0) continue;
    const int64_t iy = floordiv(Y, U);
    if (iy < 0 || iy >= H) continue;
    ks[n] = k; rows[n] = iy; ++n;
  }
  return n;
}

// The filter after flip and gain, in double: separable (gx, gy) or 2-D (g2, row-major fh x fw).
struct Filter {
  bool separable;
  int64_t fw, fh;
  std::vector<double> gx, gy, g2;
};

Filter make_filter(const at::Tensor& f_, bool flip_filter, double gain) {
  const at::Tensor f = f_.detach().to(at::kCPU, at::kDouble).contiguous();
  const double* p = f.data_ptr<double>();
  Filter F;
  if (f.dim() == 1) {
    F.separable = true;
    F.fw = F.fh = f.size(0);
    const double s = std::sqrt(gain);
    F.gx.resize(F.fw);
    for (int64_t k = 0; k < F.fw; ++k) F.gx[k] = p[flip_filter ? k : F.fw - 1 - k] * s;
    F.gy = F.gx;
    return F;
  }
  F.fh = f.size(0);
  F.fw = f.size(1);
  F.g2.resize(F.fh * F.fw);
  for (int64_t y = 0; y < F.fh; ++y)
    for (int64_t x = 0; x < F.fw; ++x) {
      const int64_t sy = flip_filter ? y : F.fh - 1 - y, sx = flip_filter ? x : F.fw - 1 - x;
      F.g2[y * F.fw + x] = p[sy * F.fw + sx] * gain;
    }
  // An outer product (e.g. setup_filter([1,3,3,1], separable=False)) runs as two 1-D passes.
  int64_t r0 = 0, c0 = 0;
  double mx = 0;
  for (int64_t y = 0; y < F.fh; ++y)
    for (int64_t x = 0; x < F.fw; ++x)
      if (std::abs(F.g2[y * F.fw + x]) > mx) { mx = std::abs(F.g2[y * F.fw + x]); r0 = y; c0 = x; }
  F.separable = false;
  if (mx > 0 && F.fh * F.fw > 1) {
    std::vector<double> col(F.fh), row(F.fw);
    for (int64_t y = 0; y < F.fh; ++y) col[y] = F.g2[y * F.fw + c0];
    for (int64_t x = 0; x < F.fw; ++x) row[x] = F.g2[r0 * F.fw + x] / F.g2[r0 * F.fw + c0];
    double err = 0;
    for (int64_t y = 0; y < F.fh; ++y)
      for (int64_t x = 0; x < F.fw; ++x) err = std::max(err, std::abs(F.g2[y * F.fw + x] - col[y] * row[x]));
    if (err <= 1e-9 * mx) { F.separable = true; F.gy = col; F.gx = row; }
  }
  return F;
}

template <typename T>
using acc_of = std::conditional_t<std::is_same_v<T, double>, double, float>;

#ifdef __AVX512F__
// float32 -> bfloat16 bits (in the low 16 bits of each 32-bit lane), rounded as c10::BFloat16 rounds: to nearest
// even, a NaN to 0x7FC0.
inline __m512i bf16_bits16(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7FFF)), lsb), 16);
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF)),
                                               _mm512_set1_epi32(0x7F800000));
  return _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(0x7FC0));
}
#endif

// Optional epilogue applied to each filtered output sample before it is stored (inference only; the Python side
// composes the separate ops whenever a gradient is needed):
//   y = clamp(act_gain * lrelu(v + strength * noise[n, oy, ox] + bias[c], alpha))
// noise is (NN, OH, OW) float32 with NN = 1 (shared) or N; bias is (C,) in x's dtype; alpha = 1 is linear;
// clamp < 0 means none.
struct Epilogue {
  bool on = false;
  const void* bias = nullptr;
  const float* noise = nullptr;
  int64_t noise_batch = 0;
  double strength = 0, alpha = 1, gain = 1, clamp = -1;
};

template <typename T, typename A>
struct RowEpilogue {
  const Epilogue& e;
  A s, al, g, c;  // c: the clamp, +inf when there is none
  RowEpilogue(const Epilogue& e_)
      : e(e_), s(A(e_.strength)), al(A(e_.alpha)), g(A(e_.gain)),
        c(e_.clamp >= 0 ? A(e_.clamp) : std::numeric_limits<A>::infinity()) {}
  const float* noise_row(int64_t n, int64_t oy, int64_t OH, int64_t OW) const {
    if (e.noise == nullptr) return nullptr;
    return e.noise + ((e.noise_batch == 1 ? 0 : n) * OH + oy) * OW;
  }
  A bias(int64_t c_) const { return e.bias ? A(static_cast<const T*>(e.bias)[c_]) : A(0); }
  // clamp(g * lrelu(v)); v already holds filter + noise + bias, in the separate ops' order
  inline A act(A v) const {
    v = (v > A(0) ? v : v * al) * g;
    return v < -c ? -c : (v > c ? c : v);
  }
  // A stored row of n samples of one channel, in place (the row is in cache).
  void row(T* y, const float* noise, A b, int64_t n) const {
    for (int64_t i = 0; i < n; ++i) y[i] = T(act((noise ? A(y[i]) + s * A(noise[i]) : A(y[i])) + b));
  }
  // One channels-last pixel: C channels sharing one noise value; v: the filtered samples (accumulator type).
  void row_nhwc(T* y, const A* v, float noise, const A* bias, int64_t C) const {
    const A nv = s * A(noise);
    int64_t k = 0;
#ifdef __AVX512F__
    if constexpr (std::is_same_v<T, c10::BFloat16>) {  // GCC leaves this loop scalar for bfloat16 (148.6 ms
      // against 10.6 in float32 at 32 ch x 1025^2): 16 channels at a time, the same rounding and NaN handling
      uint16_t* yb = reinterpret_cast<uint16_t*>(y);
      const __m512 vnv = _mm512_set1_ps(nv), val = _mm512_set1_ps(al), vg = _mm512_set1_ps(g);
      const __m512 vhi = _mm512_set1_ps(c), vlo = _mm512_set1_ps(-c);
      for (; k + 16 <= C; k += 16) {
        const __m512 rt = _mm512_castsi512_ps(_mm512_slli_epi32(bf16_bits16(_mm512_loadu_ps(v + k)), 16));
        __m512 a = _mm512_add_ps(_mm512_add_ps(rt, vnv), _mm512_loadu_ps(bias + k));
        a = _mm512_mask_mul_ps(a, _mm512_cmp_ps_mask(a, _mm512_setzero_ps(), _CMP_LE_OQ), a, val);
        a = _mm512_min_ps(vhi, _mm512_max_ps(vlo, _mm512_mul_ps(a, vg)));  // a NaN in the second operand passes
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(yb + k), _mm512_cvtepi32_epi16(bf16_bits16(a)));
      }
    }
#endif
    for (; k < C; ++k) y[k] = T(act(A(T(v[k])) + nv + bias[k]));
  }
};

// dst[m] (=|+=) sum_j w[j] * src[j][D*m] for K (1..4) taps fused in one pass over dst, m < n.
template <typename A, int K, int DC>
inline void fir_pass(A* __restrict dst, const A* const* src, const A* w, int64_t n, int64_t D, bool assign) {
  const int64_t d = DC > 0 ? DC : D;
  const A* __restrict s0 = src[0];
  const A* __restrict s1 = K > 1 ? src[1] : src[0];
  const A* __restrict s2 = K > 2 ? src[2] : src[0];
  const A* __restrict s3 = K > 3 ? src[3] : src[0];
  const A w0 = w[0], w1 = K > 1 ? w[1] : A(0), w2 = K > 2 ? w[2] : A(0), w3 = K > 3 ? w[3] : A(0);
  auto val = [&](int64_t m) {
    A v = w0 * s0[d * m];
    if (K > 1) v += w1 * s1[d * m];
    if (K > 2) v += w2 * s2[d * m];
    if (K > 3) v += w3 * s3[d * m];
    return v;
  };
  if (assign) {
    for (int64_t m = 0; m < n; ++m) dst[m] = val(m);
  } else {
    for (int64_t m = 0; m < n; ++m) dst[m] += val(m);
  }
}

template <typename A, int DC>
inline void fir_taps_d(A* dst, const A* const* src, const A* w, int ntaps, int64_t n, int64_t D, bool assign) {
  if (ntaps == 0) {
    if (assign) std::fill(dst, dst + n, A(0));
    return;
  }
  for (int t = 0; t < ntaps; t += 4, assign = false) {
    switch (std::min(4, ntaps - t)) {
      case 1: fir_pass<A, 1, DC>(dst, src + t, w + t, n, D, assign); break;
      case 2: fir_pass<A, 2, DC>(dst, src + t, w + t, n, D, assign); break;
      case 3: fir_pass<A, 3, DC>(dst, src + t, w + t, n, D, assign); break;
      default: fir_pass<A, 4, DC>(dst, src + t, w + t, n, D, assign); break;
    }
  }
}

// dst[m] (=|+=) sum_t w[t] * src[t][D*m]: taps fused four at a time (one pass over dst per four taps).
template <typename A>
inline void fir_taps(A* dst, const A* const* src, const A* w, int ntaps, int64_t n, int64_t D, bool assign) {
  if (D == 1) fir_taps_d<A, 1>(dst, src, w, ntaps, n, D, assign);
  else if (D == 2) fir_taps_d<A, 2>(dst, src, w, ntaps, n, D, assign);
  else fir_taps_d<A, 0>(dst, src, w, ntaps, n, D, assign);
}

// Horizontal pass of one buffer row into the phase accumulators (acc: U rows of maxlen).
template <typename A>
void hpass_nchw(const HPlan& h, const A* pb, const A* g, A* acc, bool first, std::vector<const A*>& ptrs,
                std::vector<A>& ws) {
  for (int64_t ph = 0; ph < h.U; ++ph) {
    const auto& taps = h.taps[ph];
    ptrs.resize(taps.size());
    ws.resize(taps.size());
    for (size_t t = 0; t < taps.size(); ++t) { ptrs[t] = pb + taps[t].off; ws[t] = g[taps[t].k]; }
    fir_taps<A>(acc + ph * h.maxlen, ptrs.data(), ws.data(), (int)taps.size(), h.len[ph], h.D, first);
  }
}

template <typename T>
void upfirdn2d_nchw(const T* x, T* y, int64_t planes, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW,
                    int64_t upx, int64_t upy, int64_t downx, int64_t downy, int64_t px0, int64_t py0, const Filter& F,
                    const Epilogue& ep) {
  using A = acc_of<T>;
  const RowEpilogue<T, A> epi(ep);
  const HPlan h = make_hplan(W, OW, upx, downx, px0, F.fw);
  std::vector<A> gx(F.gx.begin(), F.gx.end()), gy(F.gy.begin(), F.gy.end()), g2(F.g2.begin(), F.g2.end());
  const int64_t rows = planes * OH;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(OW * (F.separable ? 1 : F.fh), 1));
  at::parallel_for(0, rows, grain, [&](int64_t r0, int64_t r1) {
    std::vector<A> pb(h.BL, A(0)), acc(h.U * h.maxlen), vw(F.fh), hw;
    std::vector<int64_t> ks(F.fh), srcrows(F.fh);
    std::vector<const A*> vptr(F.fh), hptr;
    A* tmp = pb.data() + h.L;
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t plane = r / OH, oy = r % OH;
      const T* xp = x + plane * H * W;
      T* yp = y + plane * OH * OW + oy * OW;
      const int nv = vtaps(oy, H, upy, downy, py0, F.fh, ks.data(), srcrows.data());
      if (F.separable) {
        if constexpr (std::is_same_v<T, A>) {  // rows combined in place, four taps per pass
          for (int j = 0; j < nv; ++j) { vptr[j] = xp + srcrows[j] * W; vw[j] = gy[ks[j]]; }
          fir_taps<A>(tmp, vptr.data(), vw.data(), nv, h.copy_n, 1, true);
        } else {
          for (int j = 0; j < nv; ++j) {
            const T* src = xp + srcrows[j] * W;
            const A w = gy[ks[j]];
            if (j == 0) for (int64_t i = 0; i < h.copy_n; ++i) tmp[i] = w * A(src[i]);
            else for (int64_t i = 0; i < h.copy_n; ++i) tmp[i] += w * A(src[i]);
          }
          if (nv == 0) std::fill(tmp, tmp + h.copy_n, A(0));
        }
        hpass_nchw<A>(h, pb.data(), gx.data(), acc.data(), true, hptr, hw);
      } else {
        for (int j = 0; j < nv; ++j) {
          const T* src = xp + srcrows[j] * W;
          for (int64_t i = 0; i < h.copy_n; ++i) tmp[i] = A(src[i]);
          hpass_nchw<A>(h, pb.data(), g2.data() + ks[j] * F.fw, acc.data(), j == 0, hptr, hw);
        }
        if (nv == 0) std::fill(acc.begin(), acc.end(), A(0));
      }
      if (h.U == 1) {
        for (int64_t ox = 0; ox < OW; ++ox) yp[ox] = T(acc[ox]);
      } else if (h.U == 2) {
        const A* a0 = acc.data();
        const A* a1 = acc.data() + h.maxlen;
        const int64_t n1 = h.len[1];
        for (int64_t m = 0; m < n1; ++m) { yp[2 * m] = T(a0[m]); yp[2 * m + 1] = T(a1[m]); }
        if (h.len[0] > n1) yp[2 * n1] = T(a0[n1]);
      } else {
        for (int64_t ph = 0; ph < h.U; ++ph)
          for (int64_t m = 0; m < h.len[ph]; ++m) yp[h.U * m + ph] = T(acc[ph * h.maxlen + m]);
      }
      if (ep.on) epi.row(yp, epi.noise_row(plane / C, oy, OH, OW), epi.bias(plane % C), OW);
    }
  });
}

// Channels-last: element (y, x) is a contiguous vector of C channels.
template <typename T>
void upfirdn2d_nhwc(const T* x, T* y, int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW,
                    int64_t upx, int64_t upy, int64_t downx, int64_t downy, int64_t px0, int64_t py0,
                    const Filter& F, const Epilogue& ep) {
  using A = acc_of<T>;
  const RowEpilogue<T, A> epi(ep);
  std::vector<A> bias(C);
  for (int64_t c = 0; c < C; ++c) bias[c] = epi.bias(c);
  const HPlan h = make_hplan(W, OW, upx, downx, px0, F.fw);
  std::vector<A> gx(F.gx.begin(), F.gx.end()), gy(F.gy.begin(), F.gy.end()), g2(F.g2.begin(), F.g2.end());
  const int64_t rows = N * OH;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(OW * C * (F.separable ? 1 : F.fh), 1));
  at::parallel_for(0, rows, grain, [&](int64_t r0, int64_t r1) {
    std::vector<A> pb(h.BL * C, A(0)), acc(OW * C), vw(F.fh);
    std::vector<int64_t> ks(F.fh), srcrows(F.fh);
    std::vector<const A*> vptr(F.fh);
    A* tmp = pb.data() + h.L * C;
    const int64_t cn = h.copy_n * C;
    std::vector<const A*> hptr;
    std::vector<A> hw;
    auto hpass = [&](const A* g, bool first) {
      if (h.U == 1 && h.D == 1) {  // one phase, unit stride: a 1-D FIR over the row's W*C samples, taps C apart
        const auto& taps = h.taps[0];
        hptr.resize(taps.size());
        hw.resize(taps.size());
        for (size_t t = 0; t < taps.size(); ++t) { hptr[t] = pb.data() + taps[t].off * C; hw[t] = g[taps[t].k]; }
        fir_taps<A>(acc.data(), hptr.data(), hw.data(), (int)taps.size(), h.len[0] * C, 1, first);
        return;
      }
      for (int64_t ph = 0; ph < h.U; ++ph)
        for (int64_t m = 0; m < h.len[ph]; ++m) {
          A* a = acc.data() + (h.U * m + ph) * C;
          bool assign = first;
          for (const Tap& t : h.taps[ph]) {
            const A* s = pb.data() + (h.D * m + t.off) * C;
            const A w = g[t.k];
            if (assign) for (int64_t c = 0; c < C; ++c) a[c] = w * s[c];
            else for (int64_t c = 0; c < C; ++c) a[c] += w * s[c];
            assign = false;
          }
          if (assign) std::fill(a, a + C, A(0));
        }
    };
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / OH, oy = r % OH;
      const T* xp = x + n * H * W * C;
      T* yp = y + (n * OH + oy) * OW * C;
      const int nv = vtaps(oy, H, upy, downy, py0, F.fh, ks.data(), srcrows.data());
      if (F.separable) {
        if constexpr (std::is_same_v<T, A>) {  // rows combined in one pass per four taps
          for (int j = 0; j < nv; ++j) { vptr[j] = xp + srcrows[j] * W * C; vw[j] = gy[ks[j]]; }
          fir_taps<A>(tmp, vptr.data(), vw.data(), nv, cn, 1, true);
        } else {
          for (int j = 0; j < nv; ++j) {
            const T* src = xp + srcrows[j] * W * C;
            const A w = gy[ks[j]];
            if (j == 0) for (int64_t i = 0; i < cn; ++i) tmp[i] = w * A(src[i]);
            else for (int64_t i = 0; i < cn; ++i) tmp[i] += w * A(src[i]);
          }
          if (nv == 0) std::fill(tmp, tmp + cn, A(0));
        }
        hpass(gx.data(), true);
      } else {
        for (int j = 0; j < nv; ++j) {
          const T* src = xp + srcrows[j] * W * C;
          for (int64_t i = 0; i < cn; ++i) tmp[i] = A(src[i]);
          hpass(g2.data() + ks[j] * F.fw, j == 0);
        }
        if (nv == 0) std::fill(acc.begin(), acc.end(), A(0));
      }
      if (ep.on) {  // the epilogue reads the accumulators and stores each sample once
        const float* nz = epi.noise_row(n, oy, OH, OW);
        for (int64_t ox = 0; ox < OW; ++ox)
          epi.row_nhwc(yp + ox * C, acc.data() + ox * C, nz ? nz[ox] : 0.0f, bias.data(), C);
      } else {
        for (int64_t i = 0; i < OW * C; ++i) yp[i] = T(acc[i]);
      }
    }
  });
}

}  // namespace

namespace {
at::Tensor upfirdn2d_impl(const at::Tensor& x_, const at::Tensor& f, int64_t upx, int64_t upy, int64_t downx,
                          int64_t downy, int64_t px0, int64_t px1, int64_t py0, int64_t py1, bool flip_filter,
                          double gain, Epilogue ep, const at::Tensor& bias_, const at::Tensor& noise_) {
  TORCH_CHECK(x_.device().is_cpu(), "latentedit upfirdn2d (CPU): expected a CPU tensor, got ", x_.device());
  TORCH_CHECK(x_.dim() == 4, "latentedit upfirdn2d: x must be (N, C, H, W); got ", x_.sizes());
  TORCH_CHECK(f.dim() == 1 || f.dim() == 2, "latentedit upfirdn2d: filter must be (ft,) or (fh, fw); got ", f.sizes());
  TORCH_CHECK(f.numel() > 0, "latentedit upfirdn2d: empty filter");
  TORCH_CHECK(upx >= 1 && upy >= 1 && downx >= 1 && downy >= 1, "latentedit upfirdn2d: up/down factors must be >= 1");
  const int64_t N = x_.size(0), C = x_.size(1), H = x_.size(2), W = x_.size(3);
  const Filter F = make_filter(f, flip_filter, gain);
  const int64_t OH = floordiv(H * upy + py0 + py1 - F.fh, downy) + 1;
  const int64_t OW = floordiv(W * upx + px0 + px1 - F.fw, downx) + 1;
  TORCH_CHECK(OH >= 1 && OW >= 1, "latentedit upfirdn2d: output would be empty (", OH, " x ", OW,
              "): padding crops more than the (upsampled) input holds");
  const bool nhwc = C > 1 && !x_.is_contiguous() && x_.is_contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor x = nhwc ? x_ : x_.contiguous();
  at::Tensor y = at::empty({N, C, OH, OW}, x.options().memory_format(nhwc ? at::MemoryFormat::ChannelsLast
                                                                          : at::MemoryFormat::Contiguous));
  if (y.numel() == 0) return y;
  at::Tensor bias, noise;
  if (ep.on) {
    if (bias_.defined() && bias_.numel() > 0) {
      TORCH_CHECK(bias_.dim() == 1 && bias_.size(0) == C && bias_.scalar_type() == x.scalar_type(),
                  "latentedit upfirdn2d_bias_act: bias must be (", C, ",) in x's dtype; got ", bias_.sizes(), " ",
                  bias_.scalar_type());
      bias = bias_.contiguous();
      ep.bias = bias.data_ptr();
    }
    if (noise_.defined() && noise_.numel() > 0) {
      TORCH_CHECK(noise_.dim() == 3 && (noise_.size(0) == 1 || noise_.size(0) == N) && noise_.size(1) == OH &&
                      noise_.size(2) == OW,
                  "latentedit upfirdn2d_bias_act: noise must be (1 or ", N, ", ", OH, ", ", OW, "); got ",
                  noise_.sizes());
      noise = noise_.to(at::kFloat).contiguous();
      ep.noise = noise.data_ptr<float>();
      ep.noise_batch = noise.size(0);
    }
  }
  if (x.numel() == 0 && !ep.on) return y.zero_();
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "upfirdn2d_cpu", [&] {
    if (nhwc)
      upfirdn2d_nhwc<scalar_t>(x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), N, C, H, W, OH, OW, upx, upy, downx,
                               downy, px0, py0, F, ep);
    else
      upfirdn2d_nchw<scalar_t>(x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), N * C, C, H, W, OH, OW, upx, upy,
                               downx, downy, px0, py0, F, ep);
  });
  return y;
}
}  // namespace

// x: (N, C, H, W) any layout; f: (ft,) separable or (fh, fw). Channels-last input gives channels-last output.
at::Tensor upfirdn2d_cpu(const at::Tensor& x, const at::Tensor& f, int64_t upx, int64_t upy, int64_t downx,
                         int64_t downy, int64_t px0, int64_t px1, int64_t py0, int64_t py1, bool flip_filter,
                         double gain) {
  return upfirdn2d_impl(x, f, upx, upy, downx, downy, px0, px1, py0, py1, flip_filter, gain, Epilogue{},
                        at::Tensor(), at::Tensor());
}

// upfirdn2d followed, per output sample, by clamp(act_gain * lrelu(y + strength * noise + bias, alpha)) (see
// Epilogue): the up-sampling layer's filter, noise, bias and activation in one pass. Forward only.
at::Tensor upfirdn2d_bias_act_cpu(const at::Tensor& x, const at::Tensor& f, int64_t upx, int64_t upy, int64_t downx,
                                  int64_t downy, int64_t px0, int64_t px1, int64_t py0, int64_t py1,
                                  bool flip_filter, double gain, const at::Tensor& bias, const at::Tensor& noise,
                                  double strength, double alpha, double act_gain, double clamp) {
  Epilogue ep;
  ep.on = true;
  ep.strength = strength; ep.alpha = alpha; ep.gain = act_gain; ep.clamp = clamp;
  return upfirdn2d_impl(x, f, upx, upy, downx, downy, px0, px1, py0, py1, flip_filter, gain, ep, bias, noise);
}

}  // namespace latentedit
