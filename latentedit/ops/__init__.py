"""Custom ops behind one dispatch point: fused bias+activation and upfirdn2d.

``fused_bias_act`` and ``upfirdn2d`` are what the networks call. Today they run the reference PyTorch twins;
native (C++/CUDA) kernels plug in behind the same signatures (selected by ``LATENTEDIT_OPS``).
"""

from __future__ import annotations

import torch

from latentedit.ops.bias_act_ref import ACTIVATIONS, fused_bias_act_ref
from latentedit.ops.upfirdn2d_ref import filter_size, parse_padding, parse_scaling, setup_filter, upfirdn2d_ref

__all__ = ["ACTIVATIONS", "fused_bias_act", "upfirdn2d", "setup_filter", "filter_size", "upsample2d",
           "downsample2d", "filter2d"]


def fused_bias_act(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None) -> torch.Tensor:
    """``clamp(gain * act(x + b))`` (see ``bias_act_ref``)."""
    return fused_bias_act_ref(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)


def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1.0) -> torch.Tensor:
    """Upsample, pad, FIR-filter, downsample (see ``upfirdn2d_ref``)."""
    return upfirdn2d_ref(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain)


def filter2d(x, f, padding=0, flip_filter=False, gain=1.0) -> torch.Tensor:
    """Filter keeping the size (same padding) plus extra ``padding``."""
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    p = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain)


def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1.0) -> torch.Tensor:
    """Upsample by ``up`` with the FIR ``f`` (gain up**2 keeps the mean): (N, C, H, W) -> (N, C, H*up, W*up)."""
    upx, upy = parse_scaling(up)
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = [px0 + (fw + upx - 1) // 2, px1 + (fw - upx) // 2, py0 + (fh + upy - 1) // 2, py1 + (fh - upy) // 2]
    return upfirdn2d(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * upx * upy)


def downsample2d(x, f, down=2, padding=0, flip_filter=False, gain=1.0) -> torch.Tensor:
    """Downsample by ``down`` after the FIR ``f``: (N, C, H, W) -> (N, C, H/down, W/down)."""
    downx, downy = parse_scaling(down)
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = [px0 + (fw - downx + 1) // 2, px1 + (fw - downx) // 2, py0 + (fh - downy + 1) // 2, py1 + (fh - downy) // 2]
    return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain)
