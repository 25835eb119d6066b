"""Which memory format a CPU synthesis pass keeps its activations in: NCHW, or channels-last (NHWC).

oneDNN's AVX-512 convolutions work on channel-blocked data: handed NCHW activations, every convolution and
transposed convolution reorders its input to the blocked layout and its output back, two full passes over
activations of up to 134 MB per layer at 1024 px. Channels-last activations go straight into its NHWC kernels.
Measured on an AVX-512 host (docs/ops.md, "Channels-last synthesis"): 1.30-1.37x at 1024 px batch 1, 1.12-1.20x
at 256 px batch 4.
On an AVX2 host the same change measured 1.12x slower (its transposed convolutions lose more than the regular
ones gain), so ``auto`` takes channels-last only where the CPU has AVX-512.

``LATENTEDIT_CHANNELS_LAST``: ``auto`` (default: inference on an AVX-512 CPU), ``1`` (every CPU
inference pass) or ``0`` (never). Passes that need a gradient always stay NCHW: through a frozen generator,
forward+backward measured 0.79x at 1024 px batch 1 with channels-last (0.89-1.0x keeping it up to 512/256/128 px
only); its 1.24x at 256 px batch 4 was mostly the other modulation order (activations scaled instead of grouped
per-sample convolutions: 1.18x alone), which the NCHW path now takes there (docs/ops.md). Results match the NCHW
pass to float rounding.
"""

from __future__ import annotations

import os

import torch

ENV = "LATENTEDIT_CHANNELS_LAST"
SETTINGS = ("auto", "1", "0")
#: blocks from this resolution on run channels-last (8 or more: the 4-px block starts from its constant)
FROM_RESOLUTION = 16


def setting() -> str:
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value not in SETTINGS:
        raise ValueError(f"{ENV} must be one of {', '.join(SETTINGS)}; got {value!r}. Unset it for 'auto'.")
    return value


def avx512_cpu() -> bool:
    """Whether torch's CPU kernels (and oneDNN's) run with AVX-512 here."""
    try:
        return torch.backends.cpu.get_cpu_capability() in ("AVX512", "AMX")
    except (AttributeError, RuntimeError):
        return False


def channels_last_cpu_inference() -> bool:
    """Whether a CPU synthesis pass that needs no gradient runs channels-last here: the setting, oneDNN present and
    enabled, and for ``auto`` an AVX-512 CPU."""
    value = setting()
    if value == "0" or not torch.backends.mkldnn.is_available() or not torch.backends.mkldnn.enabled:
        return False
    return value == "1" or avx512_cpu()


def channels_last_synthesis(ws: torch.Tensor, module: torch.nn.Module) -> bool:
    """Whether the synthesis pass of ``module`` on W+ ``ws`` (B, num_ws, w_dim) keeps its activations
    channels-last (see the module docstring)."""
    if ws.device.type != "cpu":
        return False
    if torch.is_grad_enabled() and (ws.requires_grad or any(p.requires_grad for p in module.parameters())):
        return False
    return channels_last_cpu_inference()
