// Activation functions and their first/second derivatives, shared by the CPU and CUDA kernels.
// z is the biased input (x + b); `a` is the lrelu slope (ignored by the other activations).
// Codes must match latentedit/ops/_native.py:ACT_CODES.
#pragma once
#include <math.h>

#ifdef __CUDACC__
#define LE_HD __host__ __device__ __forceinline__
#else
#define LE_HD inline
#endif

namespace latentedit {

enum ActCode : int {
  kLinear = 0, kRelu = 1, kLrelu = 2, kTanh = 3, kSigmoid = 4,
  kElu = 5, kSelu = 6, kSoftplus = 7, kSwish = 8, kNumActs = 9
};

// True where the second derivative is identically zero (piecewise-linear activations).
LE_HD bool act_is_piecewise_linear(int act) { return act == kLinear || act == kRelu || act == kLrelu; }

LE_HD float le_exp(float v) { return expf(v); }
LE_HD double le_exp(double v) { return exp(v); }
LE_HD float le_expm1(float v) { return expm1f(v); }
LE_HD double le_expm1(double v) { return expm1(v); }
LE_HD float le_log1p(float v) { return log1pf(v); }
LE_HD double le_log1p(double v) { return log1p(v); }
LE_HD float le_tanh(float v) { return tanhf(v); }
LE_HD double le_tanh(double v) { return tanh(v); }

template <typename T> LE_HD T le_sigmoid(T z) { return T(1) / (T(1) + le_exp(-z)); }

constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSoftplusThreshold = 20.0;  // torch's default: linear above it

template <int A, typename T>
LE_HD T act_f(T z, T a) {
  if constexpr (A == kLinear) return z;
  else if constexpr (A == kRelu) return z > T(0) ? z : T(0);
  else if constexpr (A == kLrelu) return z > T(0) ? z : z * a;
  else if constexpr (A == kTanh) return le_tanh(z);
  else if constexpr (A == kSigmoid) return le_sigmoid(z);
  else if constexpr (A == kElu) return z > T(0) ? z : le_expm1(z);
  else if constexpr (A == kSelu) return T(kSeluScale) * (z > T(0) ? z : T(kSeluAlpha) * le_expm1(z));
  else if constexpr (A == kSoftplus) return z > T(kSoftplusThreshold) ? z : le_log1p(le_exp(z));
  else return z * le_sigmoid(z);  // swish
}

template <int A, typename T>
LE_HD T act_d1(T z, T a) {
  if constexpr (A == kLinear) return T(1);
  else if constexpr (A == kRelu) return z > T(0) ? T(1) : T(0);
  else if constexpr (A == kLrelu) return z > T(0) ? T(1) : a;
  else if constexpr (A == kTanh) { T t = le_tanh(z); return T(1) - t * t; }
  else if constexpr (A == kSigmoid) { T s = le_sigmoid(z); return s * (T(1) - s); }
  else if constexpr (A == kElu) return z > T(0) ? T(1) : le_exp(z);
  else if constexpr (A == kSelu) return z > T(0) ? T(kSeluScale) : T(kSeluScale * kSeluAlpha) * le_exp(z);
  else if constexpr (A == kSoftplus) return z > T(kSoftplusThreshold) ? T(1) : le_sigmoid(z);
  else { T s = le_sigmoid(z); return s * (T(1) + z * (T(1) - s)); }
}

template <int A, typename T>
LE_HD T act_d2(T z, T a) {
  if constexpr (A == kLinear || A == kRelu || A == kLrelu) return T(0);
  else if constexpr (A == kTanh) { T t = le_tanh(z); return T(-2) * t * (T(1) - t * t); }
  else if constexpr (A == kSigmoid) { T s = le_sigmoid(z); return s * (T(1) - s) * (T(1) - T(2) * s); }
  else if constexpr (A == kElu) return z > T(0) ? T(0) : le_exp(z);
  else if constexpr (A == kSelu) return z > T(0) ? T(0) : T(kSeluScale * kSeluAlpha) * le_exp(z);
  else if constexpr (A == kSoftplus) { if (z > T(kSoftplusThreshold)) return T(0); T s = le_sigmoid(z); return s * (T(1) - s); }
  else { T s = le_sigmoid(z); return s * (T(1) - s) * (T(2) + z * (T(1) - T(2) * s)); }
}

// clamp(v, -c, c) with NaN passing through (c = +inf disables it).
template <typename T> LE_HD T le_clamp(T v, T c) { return v < -c ? -c : (v > c ? c : v); }
// torch's clamp backward passes the gradient where -c <= v <= c (inclusive).
template <typename T> LE_HD bool le_in_range(T v, T c) { return v >= -c && v <= c; }

// Calls f(std::integral_constant<int, A>{}) for the runtime activation code.
#define LE_DISPATCH_ACT(code, NAME, ...)                                                       \
  [&] {                                                                                        \
    switch (code) {                                                                            \
      case ::latentedit::kLinear: { constexpr int NAME = ::latentedit::kLinear; return __VA_ARGS__(); } \
      case ::latentedit::kRelu: { constexpr int NAME = ::latentedit::kRelu; return __VA_ARGS__(); }     \
      case ::latentedit::kLrelu: { constexpr int NAME = ::latentedit::kLrelu; return __VA_ARGS__(); }   \
      case ::latentedit::kTanh: { constexpr int NAME = ::latentedit::kTanh; return __VA_ARGS__(); }     \
      case ::latentedit::kSigmoid: { constexpr int NAME = ::latentedit::kSigmoid; return __VA_ARGS__(); } \
      case ::latentedit::kElu: { constexpr int NAME = ::latentedit::kElu; return __VA_ARGS__(); }       \
      case ::latentedit::kSelu: { constexpr int NAME = ::latentedit::kSelu; return __VA_ARGS__(); }     \
      case ::latentedit::kSoftplus: { constexpr int NAME = ::latentedit::kSoftplus; return __VA_ARGS__(); } \
      default: { constexpr int NAME = ::latentedit::kSwish; return __VA_ARGS__(); }            \
    }                                                                                          \
  }()

// Same, for the activations with a non-zero second derivative (the only ones the second-order kernels see).
#define LE_DISPATCH_SMOOTH_ACT(code, NAME, ...)                                                \
  [&] {                                                                                        \
    switch (code) {                                                                            \
      case ::latentedit::kTanh: { constexpr int NAME = ::latentedit::kTanh; return __VA_ARGS__(); }     \
      case ::latentedit::kSigmoid: { constexpr int NAME = ::latentedit::kSigmoid; return __VA_ARGS__(); } \
      case ::latentedit::kElu: { constexpr int NAME = ::latentedit::kElu; return __VA_ARGS__(); }       \
      case ::latentedit::kSelu: { constexpr int NAME = ::latentedit::kSelu; return __VA_ARGS__(); }     \
      case ::latentedit::kSoftplus: { constexpr int NAME = ::latentedit::kSoftplus; return __VA_ARGS__(); } \
      default: { constexpr int NAME = ::latentedit::kSwish; return __VA_ARGS__(); }            \
    }                                                                                          \
  }()

}  // namespace latentedit
