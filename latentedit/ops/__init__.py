"""Custom ops behind one dispatch point: fused bias+activation, upfirdn2d and the forward-only CPU kernels.

``fused_bias_act`` and ``upfirdn2d`` are what the networks call. Each has a pure-PyTorch reference twin (the
definition of correctness) and native C++ (CPU) / CUDA kernels with native backward passes, built lazily with ninja
on first use — never at import (see ``_build``). ``LATENTEDIT_OPS`` picks the path:

* ``auto`` (default): native where it is built and faster for the call, else the reference; a failed build warns
  once (compiler output and the fix to try) and falls back;
* ``ref``: always the reference;
* ``native``: native wherever the arguments are supported (warn once and fall back if the build fails);
* ``strict``: native or raise (build failures and unsupported arguments are errors).

``status()`` reports what is built, where, and what each device uses; ``build()`` pre-builds.
"""

from __future__ import annotations

import torch

from latentedit.ops import _native
from latentedit.ops._native import NativeOpsFallbackWarning, UnsupportedOpError, mode
from latentedit.ops.bias_act_ref import ACTIVATIONS, fused_bias_act_ref, resolve_activation
from latentedit.ops.upfirdn2d_ref import filter_size, parse_padding, parse_scaling, setup_filter, upfirdn2d_ref

__all__ = ["ACTIVATIONS", "mode", "fused_bias_act", "upfirdn2d", "upfirdn2d_bias_act", "noise_bias_act",
           "pointwise_conv", "is_channels_last", "transposed_conv_up2", "up2_weight", "up2_sample_weight",
           "up2_native", "setup_filter", "filter_size", "upsample2d", "downsample2d",
           "filter2d", "status", "build", "NativeOpsFallbackWarning", "UnsupportedOpError"]


def _unsupported(m: str, why: str) -> None:
    if m == "strict":
        raise UnsupportedOpError(f"LATENTEDIT_OPS=strict: {why}")


def fused_bias_act(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None) -> torch.Tensor:
    """``clamp(gain * act(x + b))`` (see ``bias_act_ref``)."""
    m = _native.mode()
    if m != "ref" and isinstance(x, torch.Tensor):
        _, alpha_, gain_ = resolve_activation(act, alpha, gain)  # validates `act` before anything is built
        if b is not None and (b.ndim != 1 or x.ndim == 0 or b.shape[0] != x.shape[dim]):
            raise ValueError(f"bias must be ({x.shape[dim] if x.ndim else 0},) to match x.shape[{dim}]; "
                             f"got {tuple(b.shape)}")
        why = _native.bias_act_unsupported(x, b, dim)
        if why is not None:
            _unsupported(m, why)
        elif m != "auto" or _policy.bias_act_native(x, act):
            mod = _native.module_for(x.device, m)
            if mod is not None:
                return _native.bias_act(mod, x, b, dim, act, alpha_, gain_, clamp)
    return fused_bias_act_ref(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)


def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1.0) -> torch.Tensor:
    """Upsample, pad, FIR-filter, downsample (see ``upfirdn2d_ref``)."""
    m = _native.mode()
    if m != "ref" and isinstance(x, torch.Tensor):
        if x.ndim != 4:
            raise ValueError(f"x must be (N, C, H, W); got {tuple(x.shape)}")
        if f is not None and f.ndim not in (1, 2):
            raise ValueError(f"filter must be (ft,) or (fh, fw); got {tuple(f.shape)}")
        upxy, downxy, pad = parse_scaling(up), parse_scaling(down), parse_padding(padding)
        why = _native.upfirdn2d_unsupported(x, f)
        if why is not None:
            _unsupported(m, why)
        elif m != "auto" or _policy.upfirdn2d_native(x, f, upxy, downxy):
            mod = _native.module_for(x.device, m)
            if mod is not None:
                return _native.upfirdn2d(mod, x, f, upxy, downxy, pad, flip_filter, gain)
    return upfirdn2d_ref(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain)


def upfirdn2d_bias_act(x, f, up=1, down=1, padding=0, gain=1.0, *, bias=None, noise=None, strength=1.0,
                       act="lrelu", act_gain=None, clamp=None) -> torch.Tensor:
    """``fused_bias_act(upfirdn2d(x, f, ...) + strength * noise, bias, act)``: an up-sampling layer's filter, noise,
    bias and activation.

    x: (N, C, H, W); noise: broadcastable to the filtered (N, C, OH, OW) with one value per pixel — (OH, OW),
    (1 or N, 1, OH, OW) — or None; bias: (C,) or None; act: "linear" or "lrelu". The native CPU kernel does it in
    one pass over the output for inference (no gradient needed); otherwise, and with ``LATENTEDIT_OPS=ref``, the
    separate ops run, which is also the reference the fused kernel is tested against.
    """
    _check_epilogue_act(act)
    st = _as_strength(strength)
    y = _native_epilogue(x, f, up, down, padding, gain, bias, noise, st, act, act_gain, clamp)
    if y is not None:
        return y
    return _noise_bias_act(upfirdn2d(x, f, up=up, down=down, padding=padding, gain=gain), noise, st, bias, act,
                           act_gain, clamp)


_UNIT_FILTER = torch.ones(1)


def noise_bias_act(x, noise=None, strength=1.0, bias=None, *, act="lrelu", clamp=None) -> torch.Tensor:
    """``fused_bias_act(x + strength * noise, bias, act)``: a synthesis layer's noise, bias and activation.

    x: (N, C, H, W); noise: one value per pixel — (H, W), (1 or N, 1, H, W) — or None; bias: (C,) or None; act:
    "linear" or "lrelu". On channels-last CPU activations without a gradient the native epilogue kernel (with a
    1-tap filter) does it in one pass, 1.5-2x faster than the two passes of the separate ops; on NCHW it measured no
    faster (docs/ops.md), so there, and as the reference, the separate ops run: ``addcmul`` in x's dtype, then
    ``fused_bias_act``.
    """
    _check_epilogue_act(act)
    st = _as_strength(strength)
    if noise is not None and is_channels_last(x):
        y = _native_epilogue(x, _UNIT_FILTER, 1, 1, 0, 1.0, bias, noise, st, act, None, clamp)
        if y is not None:
            return y
    return _noise_bias_act(x, noise, st, bias, act, None, clamp)


def is_channels_last(x) -> bool:
    """x is a dense channels-last (N, C, H, W) tensor and not also a plain contiguous one: the layout the native
    kernels and oneDNN treat as NHWC."""
    return (isinstance(x, torch.Tensor) and x.ndim == 4 and not x.is_contiguous()
            and x.is_contiguous(memory_format=torch.channels_last))


def _check_epilogue_act(act: str) -> None:
    if act not in ("linear", "lrelu"):
        raise ValueError(f"the fused noise/bias epilogue supports act 'linear' or 'lrelu'; got {act!r}")


def _as_strength(strength) -> torch.Tensor:
    return strength if isinstance(strength, torch.Tensor) else torch.tensor(float(strength))


def _native_epilogue(x, f, up, down, padding, gain, bias, noise, st, act, act_gain, clamp):
    """The native one-pass filter + noise + bias + activation, or None where it does not run (the caller then runs
    the separate ops)."""
    mod = _epilogue_module(x, f, up, down, bias, noise, st)
    noise3 = _noise_planes(noise, x.shape[0]) if mod is not None else False
    if noise3 is False:
        return None
    _, alpha, act_gain_ = resolve_activation(act, None, act_gain)
    return mod.upfirdn2d_bias_act(
        x, f.detach(), *parse_scaling(up), *parse_scaling(down), *parse_padding(padding), False, float(gain),
        bias if bias is not None else _native._empty(x), noise3 if noise3 is not None else _native._empty(x),
        float(st), float(alpha) if act == "lrelu" else 1.0, float(act_gain_),
        float(clamp) if clamp is not None and clamp >= 0 else -1.0)


def _noise_bias_act(y, noise, st, bias, act, act_gain, clamp):
    """The separate ops: noise added in one pass in y's dtype (an fp32 noise map must not promote a bf16 activation
    to fp32), then ``fused_bias_act``."""
    if noise is not None:
        y = torch.addcmul(y, noise.to(y.dtype), st.to(y.dtype))
    return fused_bias_act(y, bias, act=act, gain=act_gain, clamp=clamp)


POINTWISE_MAX_OUT = 8  # the native kernel's limit on output channels (ToRGB has 3)


def pointwise_conv(x, weight, bias=None, clamp=None) -> torch.Tensor:
    """Per-sample 1x1 convolution, + bias, clamped to [-clamp, clamp]: ``clamp(weight[n] @ x[n] + bias)``.

    x: (N, C, H, W); weight: (N, O, C); bias: (O,) or None. Returns (N, O, H, W). The native CPU kernel (up to
    ``POINTWISE_MAX_OUT`` output channels, float32/float64, contiguous or channels-last x, no gradient needed; the
    output is contiguous either way) reads x once;
    otherwise a batched matrix product and ``fused_bias_act`` run, which is also the reference the kernel is tested
    against. A bfloat16 x with a float32 weight is computed in float32 (x widened exactly; the native kernel reads
    channels-last bf16 directly instead of a float32 copy): ToRGB kept in fp32 under bf16 autocast.
    """
    if x.ndim != 4 or weight.ndim != 3 or weight.shape[0] != x.shape[0] or weight.shape[2] != x.shape[1]:
        raise ValueError(f"pointwise_conv: x (N, C, H, W) and weight (N, O, C) expected; got x {tuple(x.shape)}, "
                         f"weight {tuple(weight.shape)}")
    n, c, h, w = x.shape
    mod = _pointwise_module(x, weight, bias)
    if mod is None and x.dtype == torch.bfloat16 and weight.dtype == torch.float32:
        return pointwise_conv(x.float(), weight, bias, clamp)  # computed in float32: x widened by a copy
    if mod is not None:
        return mod.pointwise_conv(x, weight.contiguous(), bias.contiguous() if bias is not None
                                  else _native._empty(x), float(clamp) if clamp is not None and clamp >= 0 else -1.0)
    if not is_channels_last(x):
        y = torch.matmul(weight.to(x.dtype), x.reshape(n, c, h * w)).reshape(n, -1, h, w)
    else:  # channels-last: (N, HW, C) @ (N, C, O) reads x in place instead of copying it to NCHW first
        y = torch.matmul(x.permute(0, 2, 3, 1).reshape(n, h * w, c), weight.to(x.dtype).transpose(1, 2))
        y = y.transpose(1, 2).reshape(n, -1, h, w).contiguous()  # NCHW, as from the native kernel (O is small)
    return fused_bias_act(y, bias, clamp=clamp) if bias is not None or clamp is not None else y


def _pointwise_module(x, weight, bias):
    """The native module for ``pointwise_conv`` on these arguments, or None (see its docstring)."""
    m = _forward_only_mode(x, weight, bias)
    if m is None or x.dtype not in (torch.float32, torch.float64, torch.bfloat16):
        return None
    if not (x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last)):  # NCHW planes or NHWC pixels
        return None
    if x.dtype == torch.bfloat16 and not is_channels_last(x):
        return None  # the kernel widens bf16 channels-last pixels only
    wdtype = torch.float32 if x.dtype == torch.bfloat16 else x.dtype  # bf16 x: read as float32
    if weight.dtype != wdtype or weight.shape[1] > POINTWISE_MAX_OUT or weight.device != x.device:
        return None
    if bias is not None and (bias.dtype != wdtype or bias.device != x.device or bias.shape != weight.shape[1:2]):
        return None
    return _native.module_for(x.device, m)


def _forward_only_mode(x, *others):
    """The ops mode for a forward-only native CPU kernel on x and ``others``, or None where the kernel must not run:
    reference mode, x not a CPU tensor, or a gradient to compute through any of them."""
    m = _native.mode()
    if m == "ref" or not isinstance(x, torch.Tensor) or x.device.type != "cpu":
        return None
    if torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in (x, *others)):
        return None
    return m


def _epilogue_module(x, f, up, down, bias, noise, strength):
    """The native module whose fused epilogue takes these arguments, or None (reference mode, a gradient to
    compute, not on the CPU, arguments the kernel does not take)."""
    m = _forward_only_mode(x, f, bias, noise, strength)
    if m is None or f is None or x.ndim != 4:
        return None
    if bias is not None and (bias.dtype != x.dtype or bias.device != x.device):
        return None
    if _native.upfirdn2d_unsupported(x, f) is not None:
        return None
    if m == "auto" and not _policy.upfirdn2d_native(x, f, parse_scaling(up), parse_scaling(down)):
        return None
    return _native.module_for(x.device, m)


def _noise_planes(noise, n: int):
    """noise as (1 or n, OH, OW) for the native kernel; None without noise; False for a shape it does not take
    (the separate ops then broadcast it, or say why they cannot)."""
    if noise is None:
        return None
    if noise.ndim == 2:
        return noise.unsqueeze(0)
    if noise.ndim == 4 and noise.shape[1] == 1 and noise.shape[0] in (1, n):
        return noise[:, 0]
    return False


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


def status() -> dict:
    """What is built, where, and what each device will use (builds nothing). See ``latentedit ops status``."""
    from latentedit.ops._status import status as _status

    return _status()


def build(kinds=("cpu",), *, verbose: bool = False) -> dict:
    """Build (or load from the cache) the native extensions now; returns {kind: info}. Raises on failure."""
    from latentedit.ops._status import build as _build_now

    return _build_now(kinds, verbose=verbose)


from latentedit.ops import _policy  # noqa: E402  (tiny module, no torch extension work at import)
from latentedit.ops.transposed_conv import transposed_conv_up2, up2_native, up2_sample_weight, up2_weight  # noqa: E402
