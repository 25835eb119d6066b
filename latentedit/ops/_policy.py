"""Which path ``LATENTEDIT_OPS=auto`` takes for a call, from the measurements in ``benchmarks/ops.py``
(see docs/ops.md for the table).

Native is the default. The exceptions are the activations whose CPU kernel would call the C library's scalar
``tanhf``/``log1pf`` per element, where torch's vectorised (SLEEF) reference measured faster: tanh 0.3x, softplus
0.7x. Every other case measured at least as fast natively (fused_bias_act lrelu 2.1-4.5x, upfirdn2d 2-13x).
On CUDA the native kernels are always used.
"""

from __future__ import annotations

import torch

#: activations the reference runs faster on the CPU
CPU_REFERENCE_ACTS = frozenset({"tanh", "softplus"})


def bias_act_native(x: torch.Tensor, act: str) -> bool:
    if x.device.type == "cpu":
        return act not in CPU_REFERENCE_ACTS
    return True


def upfirdn2d_native(x: torch.Tensor, f, up: tuple[int, int], down: tuple[int, int]) -> bool:
    return True
