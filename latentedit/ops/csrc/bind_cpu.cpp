// Python bindings of the CPU-only extension (built without CUDA, so CPU machines never need nvcc).
// torch/csrc/utils/pybind.h (pybind11 + the Tensor caster) rather than torch/extension.h, which pulls in the
// whole C++ frontend: a third of the compile time.
#include <torch/csrc/utils/pybind.h>

#include <vector>

namespace latentedit {
at::Tensor bias_act_cpu_fwd(const at::Tensor& x, const at::Tensor& b, int64_t dim, int64_t act, double alpha,
                            double gain, double clamp);
std::vector<at::Tensor> bias_act_cpu_grad1(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& b,
                                           int64_t dim, int64_t act, double alpha, double gain, double clamp,
                                           bool want_db);
std::vector<at::Tensor> bias_act_cpu_grad2(const at::Tensor& gg, const at::Tensor& dy, const at::Tensor& x,
                                           const at::Tensor& b, int64_t dim, int64_t act, double alpha,
                                           double gain, double clamp, bool want_db);
at::Tensor upfirdn2d_cpu(const at::Tensor& x, const at::Tensor& f, int64_t upx, int64_t upy, int64_t downx,
                         int64_t downy, int64_t px0, int64_t px1, int64_t py0, int64_t py1, bool flip_filter,
                         double gain);
at::Tensor upfirdn2d_bias_act_cpu(const at::Tensor& x, const at::Tensor& f, int64_t upx, int64_t upy, int64_t downx,
                                  int64_t downy, int64_t px0, int64_t px1, int64_t py0, int64_t py1,
                                  bool flip_filter, double gain, const at::Tensor& bias, const at::Tensor& noise,
                                  double strength, double alpha, double act_gain, double clamp);
at::Tensor pointwise_conv_cpu(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias, double clamp);
bool transposed_conv_up2_native();
at::Tensor transposed_conv_up2_cpu(const at::Tensor& x, const at::Tensor& w, const at::Tensor& oscale);
}  // namespace latentedit

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "latentedit native ops (CPU)";
  m.def("bias_act_fwd", &latentedit::bias_act_cpu_fwd, "fused bias + activation (forward)");
  m.def("bias_act_grad1", &latentedit::bias_act_cpu_grad1, "fused bias + activation: first-order gradient");
  m.def("bias_act_grad2", &latentedit::bias_act_cpu_grad2, "fused bias + activation: second-order term");
  m.def("upfirdn2d", &latentedit::upfirdn2d_cpu, "upsample, pad, FIR filter, downsample");
  m.def("upfirdn2d_bias_act", &latentedit::upfirdn2d_bias_act_cpu,
        "upfirdn2d, then noise + bias + leaky ReLU + gain + clamp per sample (forward only)");
  m.def("pointwise_conv", &latentedit::pointwise_conv_cpu,
        "per-sample 1x1 convolution to a few channels + bias + clamp (forward only)");
  m.def("transposed_conv_up2", &latentedit::transposed_conv_up2_cpu,
        "3x3 stride-2 transposed convolution on channels-last x, packed weights, output scale (forward only)");
  m.attr("transposed_conv_up2_native") = latentedit::transposed_conv_up2_native();
  m.attr("device_kind") = "cpu";
  m.attr("abi_version") = 1;
}
