// Python bindings of the CUDA extension (built separately from the CPU one, only when a CUDA tensor needs it).
// torch/csrc/utils/pybind.h (pybind11 + the Tensor caster) rather than torch/extension.h, which pulls in the
// whole C++ frontend: a third of the compile time.
#include <torch/csrc/utils/pybind.h>

#include <vector>

namespace latentedit {
at::Tensor bias_act_cuda_fwd(const at::Tensor& x, const at::Tensor& b, int64_t dim, int64_t act, double alpha,
                             double gain, double clamp);
std::vector<at::Tensor> bias_act_cuda_grad1(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& b,
                                            int64_t dim, int64_t act, double alpha, double gain, double clamp,
                                            bool want_db);
std::vector<at::Tensor> bias_act_cuda_grad2(const at::Tensor& gg, const at::Tensor& dy, const at::Tensor& x,
                                            const at::Tensor& b, int64_t dim, int64_t act, double alpha,
                                            double gain, double clamp, bool want_db);
at::Tensor upfirdn2d_cuda(const at::Tensor& x, const at::Tensor& f, int64_t upx, int64_t upy, int64_t downx,
                          int64_t downy, int64_t px0, int64_t px1, int64_t py0, int64_t py1, bool flip_filter,
                          double gain);
}  // namespace latentedit

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "latentedit native ops (CUDA)";
  m.def("bias_act_fwd", &latentedit::bias_act_cuda_fwd, "fused bias + activation (forward)");
  m.def("bias_act_grad1", &latentedit::bias_act_cuda_grad1, "fused bias + activation: first-order gradient");
  m.def("bias_act_grad2", &latentedit::bias_act_cuda_grad2, "fused bias + activation: second-order term");
  m.def("upfirdn2d", &latentedit::upfirdn2d_cuda, "upsample, pad, FIR filter, downsample");
  m.attr("device_kind") = "cuda";
  m.attr("abi_version") = 1;
}
