"""StyleGAN2's up-sampling convolution (3x3, stride 2, no padding) on channels-last CPU activations.

The native kernel (``csrc/transposed_conv_cpu.cpp``, AVX-512 builds only) reads its weight in a packed layout,
(Nw, O/B, 3, 3, I, B): blocks of B = 64 (or 32) output channels, each with its nine taps and all input channels,
so a block's weights are read as one stream. ``up2_weight`` packs a layer's (O, I, 3, 3) weight (cache it: it is
shared by every call), ``up2_sample_weight`` scales packed weights per sample and ``transposed_conv_up2`` runs the
convolution: natively where ``up2_native`` says so, else ``conv_transpose2d`` on the unpacked weight (the reference
and the gradient path)::

    packed = up2_weight(weight)                            # (1, O/B, 3, 3, I, B)
    y = transposed_conv_up2(x * styles, packed, dcoefs)    # == conv_transpose2d(x*s, w^T, stride=2) * dcoefs
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from latentedit.ops import _native


def up2_block(out_channels: int) -> int:
    """Output channels per packed block: 64 where they divide O, else 32 (O must be a multiple of 32)."""
    return 64 if out_channels % 64 == 0 else 32


def up2_weight(weight: torch.Tensor) -> torch.Tensor:
    """(O, I, 3, 3), the layout of the layer's parameter, -> packed (1, O/B, 3, 3, I, B), contiguous."""
    o, i, kh, kw = weight.shape
    if (kh, kw) != (3, 3) or o % 32:
        raise ValueError(f"up2_weight: (O, I, 3, 3) with O a multiple of 32 expected; got {tuple(weight.shape)}")
    b = up2_block(o)
    return weight.reshape(1, o // b, b, i, 3, 3).permute(0, 1, 4, 5, 3, 2).contiguous()


def up2_sample_weight(packed: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Packed (1, O/B, 3, 3, I, B) times a per-sample (N, I, O) or (N, I, 1) scale -> (N, O/B, 3, 3, I, B), in one
    pass."""
    _, nob, _, _, i, b = packed.shape
    n = scale.shape[0]
    if scale.ndim != 3 or scale.shape[1] != i or scale.shape[2] not in (1, nob * b):
        raise ValueError(f"up2_sample_weight: scale (N, {i}, {nob * b} or 1) expected; got {tuple(scale.shape)}")
    s = scale.to(packed.dtype).expand(n, i, nob * b).reshape(n, i, nob, b).permute(0, 2, 1, 3)
    s = s.reshape(n, nob, 1, 1, i, b)
    return packed * s


def unpack_up2_weight(packed: torch.Tensor) -> torch.Tensor:
    """Packed (Nw, O/B, 3, 3, I, B) -> (Nw, I, O, 3, 3), the layout ``conv_transpose2d`` takes."""
    nw, nob, kh, kw, i, b = packed.shape
    return packed.permute(0, 4, 1, 5, 2, 3).reshape(nw, i, nob * b, kh, kw)


def up2_native(x: torch.Tensor, out_channels: int, *others) -> bool:
    """Whether ``transposed_conv_up2`` runs the native kernel for x: a channels-last float32 CPU tensor, no gradient
    to compute through x or ``others`` (tensors, float32 too), O a multiple of 32, native ops not disabled, an
    AVX-512 build."""
    return _up2_module(x, out_channels, *others) is not None


def _up2_module(x: torch.Tensor, out_channels: int, *others):
    """The native module whose kernel takes these arguments, or None (see ``up2_native``)."""
    from latentedit.ops import _forward_only_mode, is_channels_last

    m = _forward_only_mode(x, *others)
    if m is None or x.dtype != torch.float32 or not is_channels_last(x) or out_channels % 32:
        return None
    if any(isinstance(t, torch.Tensor) and t.dtype != torch.float32 for t in others):
        return None
    mod = _native.module_for(x.device, m)
    return mod if mod is not None and getattr(mod, "transposed_conv_up2_native", False) else None


def transposed_conv_up2(x: torch.Tensor, packed: torch.Tensor, out_scale: torch.Tensor | None = None) -> torch.Tensor:
    """``conv_transpose2d(x[n], w[n], stride=2) * out_scale[n]`` for each sample n.

    x: (N, I, H, W); packed: (1 or N, O/B, 3, 3, I, B) from ``up2_weight`` / ``up2_sample_weight``; out_scale:
    (N, O) or None. Returns (N, O, 2H+1, 2W+1), channels-last from the native kernel.
    """
    n, i = x.shape[:2]
    if x.ndim != 4 or packed.ndim != 6 or packed.shape[4] != i or packed.shape[0] not in (1, n):
        raise ValueError(f"transposed_conv_up2: x (N, I, H, W) and packed weight (1 or N, O/B, 3, 3, I, B) "
                         f"expected; got x {tuple(x.shape)}, weight {tuple(packed.shape)}")
    o = packed.shape[1] * packed.shape[5]
    if out_scale is not None and out_scale.shape != (n, o):
        raise ValueError(f"transposed_conv_up2: out_scale ({n}, {o}) expected; got {tuple(out_scale.shape)}")
    mod = _up2_module(x, o, packed, out_scale)
    if mod is not None:
        scale = out_scale.to(torch.float32).contiguous() if out_scale is not None else _native._empty(x)
        return mod.transposed_conv_up2(x, packed.contiguous(), scale)
    w = unpack_up2_weight(packed).to(x.dtype)
    if w.shape[0] == 1:
        y = F.conv_transpose2d(x, w[0], stride=2)
    else:  # one group per sample
        y = F.conv_transpose2d(x.reshape(1, n * i, *x.shape[2:]), w.reshape(n * i, o, 3, 3), stride=2, groups=n)
        y = y.reshape(n, o, *y.shape[2:])
    return y * out_scale.to(y.dtype).reshape(n, o, 1, 1) if out_scale is not None else y
