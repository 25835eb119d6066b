"""Building blocks shared by the generator and the discriminator: functions first, thin modules over them.

Weights are stored raw (``randn``) and scaled at run time (equalised learning rate), the storage convention of
both reference implementations, so their checkpoints load without rescaling.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.weak import WeakIdKeyDictionary

from latentedit import ops
from latentedit.stylegan2 import precision

# The [1, 3, 3, 1] binomial FIR used for every up/down-sampling (normalised 2-D outer product).
BLUR_TAPS = (1.0, 3.0, 3.0, 1.0)


def blur_filter(device=None) -> torch.Tensor:
    """(4, 4) normalised [1,3,3,1] outer product."""
    return ops.setup_filter(BLUR_TAPS, separable=False, device=device)


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """x / sqrt(mean(x^2)): the mapping network's input normalisation (pixel norm)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class FullyConnected(nn.Module):
    """y = act(x @ (w * lr_mul / sqrt(in)).T + b * lr_mul).  x: (B, in) -> (B, out)."""

    def __init__(self, in_features: int, out_features: int, *, activation: str = "linear", lr_mul: float = 1.0,
                 bias_init: float = 0.0):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.bias_gain = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The gain scales the (B, out) product, not the (out, in) weight: one pass over a 512x512 weight fewer
        # per call (26 style affines per 1024-px pass).
        b = self.bias * self.bias_gain if self.bias_gain != 1 else self.bias
        if self.activation == "linear":
            return torch.addmm(b.unsqueeze(0), x, self.weight.t(), alpha=self.weight_gain)
        return ops.fused_bias_act(x.matmul(self.weight.t()) * self.weight_gain, b, act=self.activation)

    def extra_repr(self) -> str:
        return f"in={self.weight.shape[1]}, out={self.weight.shape[0]}, act={self.activation}"


def use_sample_weights(batch: int, weight: torch.Tensor, x: torch.Tensor, styles: torch.Tensor | None = None) -> bool:
    """Fold styles into per-sample weights when the weights are smaller than the activations they would scale
    (high resolutions, small batches): two full passes over the activations are then saved.

    Not for batches above 1 whose gradient flows through x or the styles but not the weight (a latent mapper's or
    an inversion's backward through a frozen generator): there the grouped convolution's backward is the slow part,
    and modulating the activations measured 1.18-1.24x faster for a 256-px forward+backward at batch 2-4 (0.98x
    when the weights need their gradient too: they keep the rule above)."""
    if batch > 1 and ops.is_channels_last(x):
        return False  # the grouped convolution would need an NCHW copy of channels-last activations
    if batch > 1 and torch.is_grad_enabled() and not weight.requires_grad and (
            x.requires_grad or (styles is not None and styles.requires_grad)):
        return False
    return batch * weight.numel() <= x[0].numel()


def channels_last_batch1(x: torch.Tensor) -> torch.Tensor:
    """x with the canonical channels-last strides where it is a channels-last (1, C, H, W) whose batch stride is
    not, as a ``reshape(1, B*I, H, W)`` or a oneDNN output leaves it (a size-1 dim takes any stride; PyTorch then
    suggests NCHW to oneDNN and the layout is lost). A view, never a copy; for the tensors handed to oneDNN."""
    if ops.is_channels_last(x) and x.shape[0] == 1 and x.stride(0) != x.numel():
        c, h, w = x.shape[1:]
        return x.as_strided(x.shape, (c * h * w, 1, w * c, c))
    return x


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    *,
    demodulate: bool = True,
    up: int = 1,
    resample_filter: torch.Tensor | None = None,
    fused: bool | None = None,
    filter_output: bool = True,
) -> torch.Tensor:
    """StyleGAN2's modulated convolution.

    x: (B, I, H, W); weight: (O, I, k, k); styles: (B, I). Returns (B, O, H*up, W*up).
    Equal to convolving each sample with its own weight ``w * s`` normalised to unit norm (eps 1e-8). Two
    evaluation orders, same result: ``fused`` builds the per-sample weights and runs one grouped convolution
    (cheap when weights are smaller than activations); otherwise styles scale the input channels and the
    demodulation scales the output channels around one shared convolution. ``None`` picks the cheaper.
    ``up=2`` is a stride-2 transposed convolution followed by the [1,3,3,1] FIR (gain 4), as in the references.
    A 1x1 kernel on CPU (ToRGB) runs ``ops.pointwise_conv`` with the per-sample weights (B, O, I), whatever
    ``fused`` says. ``filter_output=False`` with ``up=2`` returns the transposed
    convolution's (B, O, 2H+1, 2W+1) before the FIR, for a caller that fuses the FIR with what follows.
    """
    b, i, h, w = x.shape
    o, wi, kh, kw = weight.shape
    if wi != i or styles.shape != (b, i):
        raise ValueError(f"modulated_conv2d: x (B, {wi}, H, W) and styles (B, {wi}) expected for weight "
                         f"{tuple(weight.shape)}; got x {tuple(x.shape)}, styles {tuple(styles.shape)}")
    if up not in (1, 2):
        raise ValueError(f"modulated_conv2d supports up=1 or 2; got {up}")
    dcoefs = demodulation_coefs(x, weight, styles) if demodulate else None
    if kh == kw == 1 and up == 1 and x.device.type == "cpu":
        # On CPU oneDNN's 1x1 path is slow with few output channels: ops.pointwise_conv (a native pass, or a
        # batched matrix product) took ToRGB (32 -> 3) at 1024 px ~6x, then another 2.6x, faster (docs/ops.md).
        return ops.pointwise_conv(x, sample_weights(weight, styles, dcoefs).reshape(b, o, i).to(x.dtype))
    if fused is None:
        fused = use_sample_weights(b, weight, x, styles)
    # channels-last inference on an AVX-512 CPU: the native up-convolution (1.0-1.6x oneDNN's, docs/ops.md)
    native_up = up == 2 and kh == kw == 3 and ops.up2_native(x, o, weight, styles)
    if fused and up == 1:
        xg = channels_last_batch1(x.reshape(1, b * i, h, w))  # b == 1: the reshape is a view; keep its layout
        wb = sample_weights(weight, styles, dcoefs)                               # (B, O, I, k, k)
        y = F.conv2d(xg, wb.reshape(b * o, i, kh, kw), padding=kh // 2, groups=b)
        x = y.reshape(b, o, *y.shape[2:])
    elif fused:  # per-sample weights built from the (I, O) layout the transposed convolution takes
        scale = styles.reshape(b, i, 1)
        if dcoefs is not None:
            scale = scale * dcoefs.reshape(b, 1, o)                               # (B, I, O)
        if native_up:
            x = ops.transposed_conv_up2(x, ops.up2_sample_weight(up2_weight(weight), scale))
        else:
            xg = channels_last_batch1(x.reshape(1, b * i, h, w))
            wb = transposed_weight(weight, x).unsqueeze(0) * scale.unsqueeze(-1).unsqueeze(-1)
            y = F.conv_transpose2d(xg, wb.reshape(b * i, o, kh, kw), stride=2, groups=b)
            x = y.reshape(b, o, *y.shape[2:])
    else:
        x = x * styles.reshape(b, i, 1, 1).to(x.dtype)
        if up == 1:
            x = F.conv2d(x, layout_weight(weight, x), padding=kh // 2)
        elif native_up:  # the demodulation is applied as the kernel stores
            x, dcoefs = ops.transposed_conv_up2(x, up2_weight(weight), dcoefs), None
        else:
            x = F.conv_transpose2d(x, transposed_weight(weight, x), stride=2)
        if dcoefs is not None:
            x = x * dcoefs.reshape(b, o, 1, 1).to(x.dtype)
    if up == 2 and filter_output:
        # (H*2+1) after the 3x3 transpose; the FIR with padding 1 brings it back to H*2.
        f = resample_filter if resample_filter is not None else blur_filter(x.device)
        x = ops.upfirdn2d(x, f, padding=(kw - 2, kw - 2, kh - 2, kh - 2), gain=4)
    return x


def demodulation_coefs(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """(B, O) = 1 / sqrt(sum_{i,k} (w[o,i,k] s[b,i])^2 + 1e-8), i.e. s^2 @ sum_k w^2: (B, I) @ (I, O).
    In fp32 under bf16 autocast when the precision policy keeps modulation in fp32."""
    if precision.autocasting(x) and precision.keep_fp32("modulation"):
        with precision.fp32_region(x):
            return (styles.float().square() @ kernel_energy(weight, torch.float32).t() + 1e-8).rsqrt()
    return (styles.square() @ kernel_energy(weight).t() + 1e-8).rsqrt()


# weight -> {name: (state, derived tensor)}; weak keys, so a dropped generator takes its entries with it.
_DERIVED = WeakIdKeyDictionary()


def derived_weight(weight: torch.Tensor, name: str, fn) -> torch.Tensor:
    """``fn(weight)``, computed once per weight and reused while the weight is unchanged (same storage, no in-place
    update since), when no gradient through the weight is wanted; computed afresh otherwise.

    For quantities that depend on the weight alone and are recomputed by every pass: the kernel energy of the
    demodulation, the transposed copy a transposed convolution needs. A change made through ``weight.data``
    bypasses the version counter and is not seen: call ``clear_derived_weights()`` after one.
    """
    if (torch.is_grad_enabled() and weight.requires_grad) or weight.is_inference():
        return fn(weight)  # inference tensors (made under torch.inference_mode) keep no version counter
    state = (weight._version, weight.data_ptr(), weight.dtype, weight.device)
    entries = _DERIVED.get(weight)
    if entries is None:
        entries = _DERIVED[weight] = {}
    hit = entries.get(name)
    if hit is not None and hit[0] == state:
        return hit[1]
    value = fn(weight.detach())
    entries[name] = (state, value)
    return value


def clear_derived_weights() -> None:
    """Forget every cached ``derived_weight`` (after changing weights in place through ``.data``)."""
    _DERIVED.clear()


def kernel_energy(weight: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """(O, I, k, k) -> (O, I): sum over the kernel taps of w^2 computed in ``dtype`` (default: the weight's), the
    weight's part of the demodulation (cached by ``derived_weight``, keyed by the weight itself even when another
    dtype is asked for: a 1024-px pass spent ~30 ms recomputing it for its 17 convolutions)."""
    dtype = dtype or weight.dtype
    return derived_weight(weight, f"energy/{dtype}", lambda w: w.to(dtype).square().sum(dim=(2, 3)))


def transposed_weight(weight: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
    """(O, I, k, k) -> (I, O, k, k), the layout a transposed convolution takes: contiguous, or channels-last when
    x is (cached by ``derived_weight``: a 9 MB copy per pass for each 512-channel up-convolution otherwise)."""
    cl = x is not None and ops.is_channels_last(x)
    fmt = torch.channels_last if cl else torch.contiguous_format
    return derived_weight(weight, "io/channels_last" if cl else "io",
                          lambda w: w.transpose(0, 1).contiguous(memory_format=fmt))


def up2_weight(weight: torch.Tensor) -> torch.Tensor:
    """(O, I, 3, 3) -> the native up-convolution's packed (1, O/B, 3, 3, I, B), cached by ``derived_weight``."""
    return derived_weight(weight, "up2", ops.up2_weight)


def layout_weight(weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The weight in channels-last memory when x is channels-last (a convolution converts it on every call
    otherwise: ~2 ms per 1024-px pass for the 512-channel layers), cached by ``derived_weight``; else the weight."""
    if not ops.is_channels_last(x):
        return weight
    return derived_weight(weight, "channels_last", lambda w: w.contiguous(memory_format=torch.channels_last))


def sample_weights(weight: torch.Tensor, styles: torch.Tensor, dcoefs: torch.Tensor | None) -> torch.Tensor:
    """Per-sample modulated (and demodulated) weights: (O, I, k, k), (B, I), (B, O) or None -> (B, O, I, k, k)."""
    b, i = styles.shape
    scale = styles.reshape(b, 1, i)                                               # (B, 1, I)
    if dcoefs is not None:
        scale = scale * dcoefs.reshape(b, -1, 1)                                  # (B, O, I): one pass over w
    return weight.unsqueeze(0) * scale.unsqueeze(-1).unsqueeze(-1)


class Conv2dLayer(nn.Module):
    """Equalised-lr conv with bias+activation and optional [1,3,3,1] downsampling (the discriminator's layer).

    x: (B, I, H, W) -> (B, O, H/down, W/down).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, bias: bool = True,
                 activation: str = "linear", down: int = 1, conv_clamp: float | None = None):
        super().__init__()
        self.activation = activation
        self.down = down
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.register_buffer("resample_filter", blur_filter(), persistent=False)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight * self.weight_gain
        k = w.shape[-1]
        if self.down == 1:
            x = F.conv2d(x, w, padding=self.padding)
        elif k == 1:
            x = ops.downsample2d(x, self.resample_filter, down=self.down)
            x = F.conv2d(x, w)
        else:
            # Blur with padding so that the stride-2 valid conv lands on H/2.
            f = self.resample_filter
            p = (f.shape[-1] - self.down) + (k - 1)
            x = ops.upfirdn2d(x, f, padding=((p + 1) // 2, p // 2, (p + 1) // 2, p // 2))
            x = F.conv2d(x, w, stride=self.down)
        act_gain = ops.ACTIVATIONS[self.activation].def_gain * gain
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return ops.fused_bias_act(x, self.bias, act=self.activation, gain=act_gain, clamp=clamp)
