"""Modulated 3x3 convolution + bias + leaky ReLU as one oneDNN primitive, for CPU inference.

A synthesis layer without noise computes ``lrelu(conv(x, w_b) + bias) * sqrt(2)``: a convolution, then a full pass
over the activations for bias and activation. oneDNN applies bias and leaky ReLU as post-ops while the convolution's
output is still in cache (``torch.ops.mkldnn._convolution_pointwise``, the op TorchInductor fuses into on CPU), so
that pass disappears; its output reorder is also cheaper. The activation's gain is folded into the weights and the
bias (leaky ReLU is positively homogeneous: ``lrelu(c z) = c lrelu(z)`` for ``c > 0``). Measured in
``docs/ops.md`` ("Fused epilogues for CPU inference").

The primitive has no autograd formula and no per-pixel noise or clamp post-op, so ``modulated_conv2d_lrelu``
applies only to float32 CPU inference of a layer that adds no noise and has no clamp, with the per-sample-weight
evaluation order, and never with ``LATENTEDIT_OPS=ref``; it returns None otherwise and the caller runs the plain
path (``modulated_conv2d`` then ``fused_bias_act``), which is the reference this path is tested against.
"""

from __future__ import annotations

import math
import warnings

import torch

from latentedit import ops
from latentedit.stylegan2 import precision
from latentedit.stylegan2.layers import channels_last_batch1, demodulation_coefs, sample_weights, use_sample_weights

LRELU_ALPHA = 0.2
LRELU_GAIN = math.sqrt(2.0)


def _pointwise_op():
    try:
        return torch.ops.mkldnn._convolution_pointwise
    except (AttributeError, RuntimeError):
        return None


_OP = _pointwise_op()


def fusion_applies(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, bias: torch.Tensor) -> bool:
    """Whether ``modulated_conv2d_lrelu`` can take these tensors (see the module docstring)."""
    if _OP is None or x.device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    if not torch.backends.mkldnn.enabled or ops.mode() == "ref" or precision.autocasting(x):
        return False
    if any(t.dtype != torch.float32 for t in (x, weight, styles, bias)):
        return False
    if torch.is_grad_enabled() and any(t.requires_grad for t in (x, weight, styles, bias)):
        return False
    return weight.shape[-2:] == (3, 3) and use_sample_weights(x.shape[0], weight, x)


def modulated_conv2d_lrelu(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor,
                           bias: torch.Tensor) -> torch.Tensor | None:
    """``fused_bias_act(modulated_conv2d(x, weight, styles), bias, act="lrelu")`` in one oneDNN call, or None where
    the fusion does not apply.

    x: (B, I, H, W); weight: (O, I, 3, 3); styles: (B, I); bias: (O,). Returns (B, O, H, W).
    """
    if not fusion_applies(x, weight, styles, bias):
        return None
    b, i, h, w = x.shape
    o = weight.shape[0]
    wb = sample_weights(weight, styles * LRELU_GAIN, demodulation_coefs(x, weight, styles))  # (B, O, I, 3, 3)
    xg = channels_last_batch1(x.reshape(1, b * i, h, w))  # b == 1: the reshape is a view; keep its layout
    try:
        y = _OP(xg, wb.reshape(b * o, i, 3, 3), (bias * LRELU_GAIN).repeat(b),
                [1, 1], [1, 1], [1, 1], b, "leaky_relu", [LRELU_ALPHA], "")
    except (RuntimeError, TypeError) as exc:  # a private op: another torch may change it; never fail a pass over it
        _disable(exc)
        return None
    return y.reshape(b, o, h, w)


def _disable(exc: BaseException) -> None:
    global _OP
    _OP = None
    warnings.warn(f"latentedit: oneDNN's fused convolution is unusable in this torch ({type(exc).__name__}: "
                  f"{str(exc).splitlines()[0] if str(exc) else ''}); synthesis runs the unfused path", RuntimeWarning,
                  stacklevel=3)
