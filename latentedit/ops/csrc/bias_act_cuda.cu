// Fused bias + activation on CUDA: one elementwise kernel per mode (forward, first-order gradient, second-order
// term). Same layout convention as the CPU kernel: memory order [outer, C, inner], channel c = (i / inner) % C.
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <limits>
#include <vector>

#include "act.h"

namespace latentedit {
namespace {

constexpr int kThreads = 256;

template <typename T, int A, int MODE>
__global__ void bias_act_kernel(T* __restrict__ out, const T* __restrict__ x, const T* __restrict__ b,
                                const T* __restrict__ dy, const T* __restrict__ gg, int64_t n, int64_t C,
                                int64_t inner, at::opmath_type<T> alpha, at::opmath_type<T> gain,
                                at::opmath_type<T> clampv, bool clamped) {
  using acc_t = at::opmath_type<T>;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x) {
    const acc_t z = acc_t(x[i]) + acc_t(b[(i / inner) % C]);
    acc_t v;
    if (MODE == 0) {
      v = le_clamp<acc_t>(act_f<A, acc_t>(z, alpha) * gain, clampv);
    } else {
      const acc_t d = MODE == 1 ? act_d1<A, acc_t>(z, alpha) : act_d2<A, acc_t>(z, alpha) * acc_t(gg[i]);
      v = acc_t(dy[i]) * gain * d;
      if (clamped && !le_in_range<acc_t>(act_f<A, acc_t>(z, alpha) * gain, clampv)) v = acc_t(0);
    }
    out[i] = T(v);
  }
}

at::Tensor dense(const at::Tensor& t) { return t.is_non_overlapping_and_dense() ? t : t.contiguous(); }

at::Tensor match_strides(const at::Tensor& t, const at::Tensor& like) {
  if (t.strides() == like.strides() && t.sizes() == like.sizes()) return t;
  return at::empty_like(like).copy_(t);
}

template <int MODE>
at::Tensor launch(const at::Tensor& x_, const at::Tensor& b_, const at::Tensor& dy_, const at::Tensor& gg_,
                  int64_t dim, int64_t act, double alpha, double gain, double clamp) {
  TORCH_CHECK(x_.is_cuda(), "latentedit bias_act (CUDA): expected a CUDA tensor, got ", x_.device());
  TORCH_CHECK(act >= 0 && act < kNumActs, "latentedit bias_act: unknown activation code ", act);
  c10::cuda::CUDAGuard guard(x_.device());
  const at::Tensor x = dense(x_);
  const int64_t C = x.dim() == 0 ? 1 : x.size(dim);
  at::Tensor b = (b_.defined() && b_.numel() > 0) ? b_.contiguous() : at::zeros({std::max<int64_t>(C, 1)},
                                                                                 x.options());
  at::Tensor dy = MODE >= 1 ? match_strides(dy_.to(x.scalar_type()), x) : at::Tensor();
  at::Tensor gg = MODE == 2 ? match_strides(gg_.to(x.scalar_type()), x) : at::Tensor();
  at::Tensor out = at::empty_like(x);
  const int64_t n = x.numel();
  if (n == 0) return out;
  const int64_t Ce = C <= 1 ? 1 : C;
  const int64_t inner = C <= 1 ? n : x.stride(dim);
  const bool clamped = clamp >= 0;
  const double cv = clamped ? clamp : std::numeric_limits<double>::infinity();
  const int blocks = (int)std::min<int64_t>((n + kThreads - 1) / kThreads, 65535 * 8);
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "bias_act_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    LE_DISPATCH_ACT(act, A, [&] {
      bias_act_kernel<scalar_t, A, MODE><<<blocks, kThreads, 0, stream>>>(
          out.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(), b.data_ptr<scalar_t>(),
          MODE >= 1 ? dy.data_ptr<scalar_t>() : nullptr, MODE == 2 ? gg.data_ptr<scalar_t>() : nullptr, n, Ce,
          inner, acc_t(alpha), acc_t(gain), acc_t(cv), clamped);
    });
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor reduce_to_bias(const at::Tensor& g, int64_t dim) {
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < g.dim(); ++d)
    if (d != dim) dims.push_back(d);
  return dims.empty() ? g.clone() : g.sum(dims);
}

}  // namespace

at::Tensor bias_act_cuda_fwd(const at::Tensor& x, const at::Tensor& b, int64_t dim, int64_t act, double alpha,
                             double gain, double clamp) {
  return launch<0>(x, b, at::Tensor(), at::Tensor(), dim, act, alpha, gain, clamp);
}

std::vector<at::Tensor> bias_act_cuda_grad1(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& b,
                                            int64_t dim, int64_t act, double alpha, double gain, double clamp,
                                            bool want_db) {
  at::Tensor dx = launch<1>(x, b, dy, at::Tensor(), dim, act, alpha, gain, clamp);
  return {dx, want_db ? reduce_to_bias(dx, dim) : at::Tensor()};
}

std::vector<at::Tensor> bias_act_cuda_grad2(const at::Tensor& gg, const at::Tensor& dy, const at::Tensor& x,
                                            const at::Tensor& b, int64_t dim, int64_t act, double alpha,
                                            double gain, double clamp, bool want_db) {
  at::Tensor out = launch<2>(x, b, dy, gg, dim, act, alpha, gain, clamp);
  return {out, want_db ? reduce_to_bias(out, dim) : at::Tensor()};
}

}  // namespace latentedit
