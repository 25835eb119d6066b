// upfirdn2d on CUDA: one thread per output sample; only the taps that land on non-zero (non-inserted) input
// samples are visited (polyphase), and padding/cropping is index arithmetic, so nothing is materialised.
// Input may have any strides (NCHW or channels-last); the output follows the input's memory format.
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace latentedit {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ int64_t fdiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

struct Geometry {
  int64_t N, C, H, W, OH, OW;
  int64_t sxn, sxc, sxh, sxw;  // input strides
  int64_t syn, syc, syh, syw;  // output strides
  int64_t upx, upy, downx, downy, px0, py0;
  int64_t fw, fh;
  bool separable, flip;
  float gain;
};

template <typename T>
__global__ void upfirdn2d_kernel(T* __restrict__ y, const T* __restrict__ x, const float* __restrict__ f,
                                 Geometry g, int64_t total) {
  using acc_t = at::opmath_type<T>;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)blockDim.x * gridDim.x) {
    const int64_t ox = i % g.OW;
    int64_t r = i / g.OW;
    const int64_t oy = r % g.OH;
    r /= g.OH;
    const int64_t c = r % g.C;
    const int64_t n = r / g.C;
    const T* xp = x + n * g.sxn + c * g.sxc;
    acc_t acc = 0;
    // First tap index whose position is a multiple of up (the others are inserted zeros).
    const int64_t Y0 = g.downy * oy - g.py0, X0 = g.downx * ox - g.px0;
    const int64_t ky0 = ((-Y0) % g.upy + g.upy) % g.upy, kx0 = ((-X0) % g.upx + g.upx) % g.upx;
    for (int64_t ky = ky0; ky < g.fh; ky += g.upy) {
      const int64_t iy = fdiv(Y0 + ky, g.upy);
      if (iy < 0 || iy >= g.H) continue;
      const int64_t fy = g.flip ? ky : g.fh - 1 - ky;
      for (int64_t kx = kx0; kx < g.fw; kx += g.upx) {
        const int64_t ix = fdiv(X0 + kx, g.upx);
        if (ix < 0 || ix >= g.W) continue;
        const int64_t fx = g.flip ? kx : g.fw - 1 - kx;
        const float w = g.separable ? f[fy] * f[fx] : f[fy * g.fw + fx];
        acc += acc_t(w) * acc_t(xp[iy * g.sxh + ix * g.sxw]);
      }
    }
    y[n * g.syn + c * g.syc + oy * g.syh + ox * g.syw] = T(acc * acc_t(g.gain));
  }
}

}  // namespace

at::Tensor upfirdn2d_cuda(const at::Tensor& x, const at::Tensor& f_, int64_t upx, int64_t upy, int64_t downx,
                          int64_t downy, int64_t px0, int64_t px1, int64_t py0, int64_t py1, bool flip_filter,
                          double gain) {
  TORCH_CHECK(x.is_cuda(), "latentedit upfirdn2d (CUDA): expected a CUDA tensor, got ", x.device());
  TORCH_CHECK(x.dim() == 4, "latentedit upfirdn2d: x must be (N, C, H, W); got ", x.sizes());
  TORCH_CHECK(f_.dim() == 1 || f_.dim() == 2, "latentedit upfirdn2d: filter must be (ft,) or (fh, fw); got ",
              f_.sizes());
  TORCH_CHECK(upx >= 1 && upy >= 1 && downx >= 1 && downy >= 1, "latentedit upfirdn2d: up/down factors must be >= 1");
  c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor f = f_.to(x.device(), at::kFloat).contiguous();
  Geometry g;
  g.N = x.size(0); g.C = x.size(1); g.H = x.size(2); g.W = x.size(3);
  g.separable = f.dim() == 1;
  g.fh = f.size(0);
  g.fw = f.size(f.dim() - 1);
  g.upx = upx; g.upy = upy; g.downx = downx; g.downy = downy; g.px0 = px0; g.py0 = py0;
  g.flip = flip_filter;
  g.gain = (float)gain;  // a separable filter applies sqrt(gain) per axis: gain overall
  g.OH = (g.H * upy + py0 + py1 - g.fh) / downy + 1;
  g.OW = (g.W * upx + px0 + px1 - g.fw) / downx + 1;
  TORCH_CHECK(g.H * upy + py0 + py1 - g.fh >= 0 && g.W * upx + px0 + px1 - g.fw >= 0,
              "latentedit upfirdn2d: output would be empty: padding crops more than the (upsampled) input holds");
  const auto fmt = x.suggest_memory_format();
  at::Tensor y = at::empty({g.N, g.C, g.OH, g.OW}, x.options().memory_format(fmt));
  g.sxn = x.stride(0); g.sxc = x.stride(1); g.sxh = x.stride(2); g.sxw = x.stride(3);
  g.syn = y.stride(0); g.syc = y.stride(1); g.syh = y.stride(2); g.syw = y.stride(3);
  const int64_t total = y.numel();
  if (total == 0) return y;
  const int blocks = (int)std::min<int64_t>((total + kThreads - 1) / kThreads, 65535 * 8);
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "upfirdn2d_cuda", [&] {
    upfirdn2d_kernel<scalar_t><<<blocks, kThreads, 0, stream>>>(y.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(),
                                                                f.data_ptr<float>(), g, total);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return y;
}

}  // namespace latentedit
