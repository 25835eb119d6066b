"""Which path ``LATENTEDIT_OPS=auto`` takes for a call, from the measurements in ``benchmarks/ops.py``
(see docs/ops.md for the table).

Native is the default. The exceptions are the activations whose CPU kernel calls the C library's scalar
``tanhf``/``log1pf``/``expf``/``expm1f`` per element, where torch's vectorised (SLEEF) reference measured faster
or no faster, forward+backward at (4, 512, 32, 32), interleaved medians: tanh 0.38-0.43x, softplus 0.62-0.77x,
sigmoid 0.95-1.12x, elu 1.02-1.13x, selu 1.01-1.44x (forward+backward ~1.0: nothing gained, and the reference's
autograd graph is simpler to differentiate again). swish measured 2.1-2.3x faster natively and stays native.
Every other case measured at least as fast natively (fused_bias_act lrelu 2.1-4.5x, upfirdn2d 2-13x).
On CUDA the native kernels are always used.
"""

from __future__ import annotations

import torch

#: activations the reference runs as fast or faster on the CPU
CPU_REFERENCE_ACTS = frozenset({"tanh", "softplus", "sigmoid", "elu", "selu"})


def bias_act_native(x: torch.Tensor, act: str) -> bool:
    if x.device.type == "cpu":
        return act not in CPU_REFERENCE_ACTS
    return True


def upfirdn2d_native(x: torch.Tensor, f, up: tuple[int, int], down: tuple[int, int]) -> bool:
    return True
