// Fused bias + activation + gain + clamp on the CPU: one pass over memory instead of four.
//
// The tensor is seen in memory order as [outer, C, inner] where C = x.size(dim) and inner = x.stride(dim); that
// holds for every non-overlapping dense layout (contiguous, channels-last, permuted), so no copy is needed.
// Rows of length `inner` share one bias value; when inner == 1 (channels-last, linear layers) rows run along C.
// Only the headers the kernels need (not torch/extension.h): keeps the JIT build short.
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "act.h"

namespace latentedit {
namespace {

constexpr int64_t kGrainElems = 1 << 15;  // elements per parallel task (~128 KiB of float)
constexpr int kLanes = 16;                // independent partial sums: lets the compiler vectorise reductions

struct Layout {
  int64_t outer, C, inner;
};

Layout layout_of(const at::Tensor& x, int64_t dim) {
  const int64_t n = x.numel();
  const int64_t C = x.dim() == 0 ? 1 : x.size(dim);
  if (C <= 1 || n == 0) return {1, 1, n};
  const int64_t inner = x.stride(dim);
  return {n / (C * inner), C, inner};
}

at::Tensor dense(const at::Tensor& t) { return t.is_non_overlapping_and_dense() ? t : t.contiguous(); }

// Same strides as `like` (which is dense).
at::Tensor match_strides(const at::Tensor& t, const at::Tensor& like) {
  if (t.strides() == like.strides() && t.sizes() == like.sizes()) return t;
  return at::empty_like(like).copy_(t);
}

template <typename T>
using acc_of = std::conditional_t<std::is_same_v<T, double>, double, float>;

// Loads/stores through plain integers for bfloat16, so the compiler can vectorise the conversions (it cannot
// vectorise loads of the c10::BFloat16 class type).
template <typename T>
inline acc_of<T> ld(const T* p, int64_t i) { return acc_of<T>(p[i]); }
template <>
inline float ld<c10::BFloat16>(const c10::BFloat16* p, int64_t i) {
  const uint32_t u = uint32_t(reinterpret_cast<const uint16_t*>(p)[i]) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
template <typename T>
inline void st(T* p, int64_t i, acc_of<T> v) { p[i] = T(v); }
template <>
inline void st<c10::BFloat16>(c10::BFloat16* p, int64_t i, float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  uint32_t r = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;  // round to nearest even, as c10 does
  r = v != v ? 0x7FC0u : r;                              // NaN stays a quiet NaN
  reinterpret_cast<uint16_t*>(p)[i] = uint16_t(r);
}

// ---- forward ----------------------------------------------------------------------------------------------
// VB: the bias varies along the row (inner == 1); otherwise it is the constant b0.
template <typename T, int A, bool VB>
void fwd_row(const T* __restrict x, T* __restrict y, const T* __restrict b, acc_of<T> b0, int64_t n,
             acc_of<T> alpha, acc_of<T> gain, acc_of<T> clampv) {
  using acc_t = acc_of<T>;
  for (int64_t i = 0; i < n; ++i) {
    const acc_t z = ld(x, i) + (VB ? ld(b, i) : b0);
    st(y, i, le_clamp<acc_t>(act_f<A, acc_t>(z, alpha) * gain, clampv));
  }
}

// ---- first-order gradient: dx = dy * gain * act'(z) * [|gain * act(z)| <= clamp] --------------------------
template <typename T, int A, bool VB, bool CLAMPED>
inline acc_of<T> grad1_one(const T* __restrict dy, const T* __restrict x, const T* __restrict b, acc_of<T> b0,
                           int64_t i, acc_of<T> alpha, acc_of<T> gain, acc_of<T> clampv) {
  using acc_t = acc_of<T>;
  const acc_t z = ld(x, i) + (VB ? ld(b, i) : b0);
  const acc_t g = ld(dy, i) * gain * act_d1<A, acc_t>(z, alpha);
  if (CLAMPED) return le_in_range<acc_t>(act_f<A, acc_t>(z, alpha) * gain, clampv) ? g : acc_t(0);
  return g;
}

template <typename T, int A, bool VB, bool CLAMPED>
void grad1_row(const T* __restrict dy, const T* __restrict x, const T* __restrict b, acc_of<T> b0,
               T* __restrict dx, int64_t n, acc_of<T> alpha, acc_of<T> gain, acc_of<T> clampv,
               double* __restrict colsum /* VB: per-element sums, else nullptr */, double* rowsum /* !VB */) {
  using acc_t = acc_of<T>;
  if (VB) {
    if (colsum) {
      for (int64_t i = 0; i < n; ++i) {
        const acc_t g = grad1_one<T, A, VB, CLAMPED>(dy, x, b, b0, i, alpha, gain, clampv);
        st(dx, i, g);
        colsum[i] += double(g);
      }
    } else {
      for (int64_t i = 0; i < n; ++i) st(dx, i, grad1_one<T, A, VB, CLAMPED>(dy, x, b, b0, i, alpha, gain, clampv));
    }
    return;
  }
  if (!rowsum) {
    for (int64_t i = 0; i < n; ++i) st(dx, i, grad1_one<T, A, VB, CLAMPED>(dy, x, b, b0, i, alpha, gain, clampv));
    return;
  }
  // Row sum: kLanes independent partial sums in acc_t over blocks of kBlock elements (few adds per lane, so
  // float keeps full precision there), each block flushed into a double.
  constexpr int64_t kBlock = 1024;
  double s = 0;
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t i1 = std::min(n, i0 + kBlock);
    acc_t lanes[kLanes] = {};
    int64_t i = i0;
    for (; i + kLanes <= i1; i += kLanes) {
      for (int j = 0; j < kLanes; ++j) {
        const acc_t g = grad1_one<T, A, VB, CLAMPED>(dy, x, b, b0, i + j, alpha, gain, clampv);
        st(dx, i + j, g);
        lanes[j] += g;
      }
    }
    for (; i < i1; ++i) {
      const acc_t g = grad1_one<T, A, VB, CLAMPED>(dy, x, b, b0, i, alpha, gain, clampv);
      st(dx, i, g);
      s += double(g);
    }
    double bs = 0;
    for (int j = 0; j < kLanes; ++j) bs += double(lanes[j]);
    s += bs;
  }
  *rowsum = s;
}

// ---- second-order term: ddx = gg * dy * gain * act''(z) * mask ---------------------------------------------
template <typename T, int A, bool VB>
void grad2_row(const T* __restrict gg, const T* __restrict dy, const T* __restrict x, const T* __restrict b,
               acc_of<T> b0, T* __restrict out, int64_t n, acc_of<T> alpha, acc_of<T> gain, acc_of<T> clampv,
               bool clamped, double* __restrict colsum, double* rowsum) {
  using acc_t = acc_of<T>;
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const acc_t z = ld(x, i) + (VB ? ld(b, i) : b0);
    acc_t g = ld(gg, i) * ld(dy, i) * gain * act_d2<A, acc_t>(z, alpha);
    if (clamped && !le_in_range<acc_t>(act_f<A, acc_t>(z, alpha) * gain, clampv)) g = acc_t(0);
    st(out, i, g);
    if (VB && colsum) colsum[i] += double(g);
    if (!VB) s += double(g);
  }
  if (!VB && rowsum) *rowsum = s;
}

// Runs `row(r, begin_ptr_offset, length, bias_value_or_ptr)` over the layout in parallel and optionally reduces
// per-channel sums into `db`. RowFn(const int64_t offset, int64_t n, int64_t channel, double* colsum, double* rowsum).
template <typename RowFn>
void run_rows(const Layout& L, bool want_sum, double* db, RowFn&& row) {
  if (L.inner == 1 && L.C > 1) {
    // Rows along C (bias varies per element); partial sums per block of rows.
    const int64_t rows = L.outer;
    const int64_t blk = std::max<int64_t>(1, kGrainElems / L.C);
    const int64_t nblk = (rows + blk - 1) / blk;
    std::vector<double> partial(want_sum ? nblk * L.C : 0, 0.0);
    at::parallel_for(0, nblk, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t bi = b0; bi < b1; ++bi) {
        double* cs = want_sum ? partial.data() + bi * L.C : nullptr;
        for (int64_t r = bi * blk; r < std::min(rows, (bi + 1) * blk); ++r) row(r * L.C, L.C, -1, cs, nullptr);
      }
    });
    if (want_sum)
      for (int64_t bi = 0; bi < nblk; ++bi)
        for (int64_t c = 0; c < L.C; ++c) db[c] += partial[bi * L.C + c];
    return;
  }
  const int64_t rows = L.outer * L.C;
  std::vector<double> rowsums(want_sum ? rows : 0, 0.0);
  const int64_t grain = std::max<int64_t>(1, kGrainElems / std::max<int64_t>(L.inner, 1));
  at::parallel_for(0, rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      row(r * L.inner, L.inner, r % L.C, nullptr, want_sum ? rowsums.data() + r : nullptr);
  });
  if (want_sum)
    for (int64_t r = 0; r < rows; ++r) db[r % L.C] += rowsums[r];
}

void check_inputs(const at::Tensor& x, const at::Tensor& b, int64_t dim, int64_t act) {
  TORCH_CHECK(x.device().is_cpu(), "latentedit bias_act (CPU): expected a CPU tensor, got ", x.device());
  TORCH_CHECK(act >= 0 && act < kNumActs, "latentedit bias_act: unknown activation code ", act);
  TORCH_CHECK(x.numel() == 0 || (dim >= 0 && dim < std::max<int64_t>(x.dim(), 1)), "latentedit bias_act: dim ", dim,
              " out of range for a ", x.dim(), "-D tensor");
  if (b.defined() && b.numel() > 0) {
    TORCH_CHECK(b.dim() == 1 && x.dim() > 0 && b.size(0) == x.size(dim), "latentedit bias_act: bias must be (",
                x.dim() > 0 ? x.size(dim) : 0, ",) to match x.shape[", dim, "]; got ", b.sizes());
    TORCH_CHECK(b.scalar_type() == x.scalar_type(), "latentedit bias_act: bias dtype ", b.scalar_type(),
                " differs from x dtype ", x.scalar_type());
  }
}

// The bias as a contiguous (C,) tensor; zeros when absent so the kernels never branch on it.
at::Tensor bias_or_zeros(const at::Tensor& b, const at::Tensor& x, int64_t dim) {
  if (b.defined() && b.numel() > 0) return b.contiguous();
  return at::zeros({x.dim() == 0 ? 1 : x.size(dim)}, x.options());
}

at::Tensor to_tensor(const std::vector<double>& v, const at::Tensor& like) {
  at::Tensor t = at::empty({(int64_t)v.size()}, like.options().dtype(at::kDouble));
  std::copy(v.begin(), v.end(), t.data_ptr<double>());
  return t.to(like.scalar_type());
}

double clamp_value(double clamp) { return clamp >= 0 ? clamp : std::numeric_limits<double>::infinity(); }

}  // namespace

// y = clamp(gain * act(x + b)); b may be an empty tensor (no bias).
at::Tensor bias_act_cpu_fwd(const at::Tensor& x_, const at::Tensor& b_, int64_t dim, int64_t act, double alpha,
                            double gain, double clamp) {
  check_inputs(x_, b_, dim, act);
  const at::Tensor x = dense(x_);
  const at::Tensor b = bias_or_zeros(b_, x, dim);
  at::Tensor y = at::empty_like(x);
  if (x.numel() == 0) return y;
  const Layout L = layout_of(x, dim);
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "bias_act_cpu_fwd", [&] {
    using acc_t = acc_of<scalar_t>;
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* yp = y.data_ptr<scalar_t>();
    const scalar_t* bp = b.data_ptr<scalar_t>();
    LE_DISPATCH_ACT(act, A, [&] {
      run_rows(L, false, nullptr, [&](int64_t off, int64_t n, int64_t c, double*, double*) {
        if (c < 0) fwd_row<scalar_t, A, true>(xp + off, yp + off, bp, 0, n, alpha, gain, clamp_value(clamp));
        else fwd_row<scalar_t, A, false>(xp + off, yp + off, nullptr, acc_t(bp[c]), n, alpha, gain,
                                         clamp_value(clamp));
      });
    });
  });
  return y;
}

// Returns (dx, db): dx = dy * d y/d(x+b); db = dx summed over every axis but `dim` (empty unless want_db).
std::vector<at::Tensor> bias_act_cpu_grad1(const at::Tensor& dy_, const at::Tensor& x_, const at::Tensor& b_,
                                           int64_t dim, int64_t act, double alpha, double gain, double clamp,
                                           bool want_db) {
  check_inputs(x_, b_, dim, act);
  const at::Tensor x = dense(x_);
  const at::Tensor dy = match_strides(dy_.to(x.scalar_type()), x);
  const at::Tensor b = bias_or_zeros(b_, x, dim);
  at::Tensor dx = at::empty_like(x);
  const Layout L = layout_of(x, dim);
  std::vector<double> db(want_db ? L.C : 0, 0.0);
  const bool clamped = clamp >= 0;
  if (x.numel() > 0) {
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "bias_act_cpu_grad1", [&] {
      using acc_t = acc_of<scalar_t>;
      const scalar_t* xp = x.data_ptr<scalar_t>();
      const scalar_t* gp = dy.data_ptr<scalar_t>();
      scalar_t* dxp = dx.data_ptr<scalar_t>();
      const scalar_t* bp = b.data_ptr<scalar_t>();
      LE_DISPATCH_ACT(act, A, [&] {
        auto rows = [&](auto clamped_tag) {
          constexpr bool CL = decltype(clamped_tag)::value;
          run_rows(L, want_db, db.data(), [&](int64_t off, int64_t n, int64_t c, double* cs, double* rs) {
            if (c < 0)
              grad1_row<scalar_t, A, true, CL>(gp + off, xp + off, bp, 0, dxp + off, n, alpha, gain,
                                               clamp_value(clamp), cs, nullptr);
            else
              grad1_row<scalar_t, A, false, CL>(gp + off, xp + off, nullptr, acc_t(bp[c]), dxp + off, n, alpha,
                                                gain, clamp_value(clamp), nullptr, rs);
          });
        };
        if (clamped) rows(std::true_type{});
        else rows(std::false_type{});
      });
    });
  }
  at::Tensor dbt;
  if (want_db) dbt = to_tensor(db, x);
  return {dx, dbt};
}

// Returns (ddx, ddb) for the second-order term gg * dy * gain * act''(x + b) (zero for piecewise-linear acts).
std::vector<at::Tensor> bias_act_cpu_grad2(const at::Tensor& gg_, const at::Tensor& dy_, const at::Tensor& x_,
                                           const at::Tensor& b_, int64_t dim, int64_t act, double alpha,
                                           double gain, double clamp, bool want_db) {
  check_inputs(x_, b_, dim, act);
  TORCH_CHECK(!act_is_piecewise_linear((int)act), "latentedit bias_act: the second-order term of a piecewise-linear "
              "activation is zero; grad2 is only defined for smooth activations");
  const at::Tensor x = dense(x_);
  const at::Tensor dy = match_strides(dy_.to(x.scalar_type()), x);
  const at::Tensor gg = match_strides(gg_.to(x.scalar_type()), x);
  const at::Tensor b = bias_or_zeros(b_, x, dim);
  at::Tensor out = at::empty_like(x);
  const Layout L = layout_of(x, dim);
  std::vector<double> db(want_db ? L.C : 0, 0.0);
  const bool clamped = clamp >= 0;
  if (x.numel() > 0) {
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "bias_act_cpu_grad2", [&] {
      using acc_t = acc_of<scalar_t>;
      const scalar_t* xp = x.data_ptr<scalar_t>();
      const scalar_t* dyp = dy.data_ptr<scalar_t>();
      const scalar_t* ggp = gg.data_ptr<scalar_t>();
      scalar_t* op = out.data_ptr<scalar_t>();
      const scalar_t* bp = b.data_ptr<scalar_t>();
      LE_DISPATCH_SMOOTH_ACT(act, A, [&] {
        run_rows(L, want_db, db.data(), [&](int64_t off, int64_t n, int64_t c, double* cs, double* rs) {
          if (c < 0)
            grad2_row<scalar_t, A, true>(ggp + off, dyp + off, xp + off, bp, 0, op + off, n, alpha, gain,
                                         clamp_value(clamp), clamped, cs, nullptr);
          else
            grad2_row<scalar_t, A, false>(ggp + off, dyp + off, xp + off, nullptr, acc_t(bp[c]),
                                          op + off, n, alpha, gain, clamp_value(clamp), clamped, nullptr, rs);
        });
      });
    });
  }
  at::Tensor dbt;
  if (want_db) dbt = to_tensor(db, x);
  return {out, dbt};
}

}  // namespace latentedit
