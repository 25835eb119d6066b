"""The synthesis network: W+ (B, num_ws, w_dim) -> image (B, 3, R, R) with the ToRGB skip architecture."""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn

from latentedit import ops
from latentedit.stylegan2 import memory_format, precision
from latentedit.stylegan2.config import GeneratorConfig
from latentedit.stylegan2.layers import FullyConnected, blur_filter, modulated_conv2d, sample_weights
from latentedit.stylegan2.onednn_fusion import modulated_conv2d_lrelu

NOISE_MODES = ("const", "random", "none")


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally x2 up) + per-pixel noise with a learned strength + bias + lrelu (+clamp).

    x: (B, I, H, W), w: (B, w_dim) -> (B, O, H*up, W*up).
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, *, up: int = 1,
                 conv_clamp: float | None = None):
        super().__init__()
        self.up, self.resolution, self.conv_clamp = up, resolution, conv_clamp
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.register_buffer("resample_filter", blur_filter(), persistent=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const",
                noise: torch.Tensor | None = None) -> torch.Tensor:
        if precision.autocasting(x) and (precision.keep_fp32("conv", self.resolution)
                                         or (self.up == 2 and precision.keep_fp32("upconv", self.resolution))):
            with precision.fp32_region(x):
                return self._forward(x.float(), w.float(), noise_mode, noise)
        return self._forward(x, w, noise_mode, noise)

    def _forward(self, x, w, noise_mode, noise):
        styles = _styles(self.affine, w, x)
        strength = self.noise_strength
        if noise is None and noise_mode == "const":
            noise = self.noise_const
        draw = noise is None and noise_mode == "random"
        adds_noise = (noise is not None or draw) and not _skip_zero(strength)
        if self.up == 1 and not adds_noise and self.conv_clamp is None:
            # CPU inference: conv + bias + lrelu as one oneDNN primitive (None where that does not apply)
            y = modulated_conv2d_lrelu(x, self.weight, styles, self.bias)
            if y is not None:
                if draw:  # drawn and unused, as on the plain path: the caller's random stream stays the same
                    self._random_noise(y)
                return y
        # with up=2 the FIR is left to upfirdn2d_bias_act below, fused with noise, bias and activation
        x = modulated_conv2d(x, self.weight, styles, up=self.up, filter_output=False)
        if draw:
            noise = self._random_noise(x)
        if self.up == 2:
            # the [1,3,3,1] FIR (padding 1: 2H+1 -> 2H), noise, bias and lrelu: one pass on the CPU for inference
            return ops.upfirdn2d_bias_act(x, self.resample_filter, padding=1, gain=4, bias=self.bias.to(x.dtype),
                                          noise=noise if adds_noise else None, strength=strength, act="lrelu",
                                          clamp=self.conv_clamp)
        # noise, bias and lrelu (one native pass on channels-last CPU activations)
        return ops.noise_bias_act(x, noise if adds_noise else None, strength, self.bias.to(x.dtype), act="lrelu",
                                  clamp=self.conv_clamp)

    def _random_noise(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, r, r) standard normal noise in x's dtype and device (x: this layer's conv output)."""
        return torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device, dtype=x.dtype)


def _skip_zero(strength: torch.Tensor) -> bool:
    """A noise strength of exactly 0 adds nothing: skip the full pass over the activations, on the CPU (no device
    sync) and when no gradient can flow to the strength."""
    if strength.device.type != "cpu" or (strength.requires_grad and torch.is_grad_enabled()):
        return False
    return float(strength) == 0.0


def _styles(affine: FullyConnected, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The style affine, in fp32 under bf16 autocast when the precision policy keeps modulation in fp32."""
    if precision.autocasting(x) and precision.keep_fp32("modulation"):
        with precision.fp32_region(x):
            return affine(w.float())
    return affine(w)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv without demodulation, + bias.  x: (B, I, H, W), w: (B, w_dim) -> (B, 3, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, *, conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if precision.autocasting(x) and precision.keep_fp32("torgb"):
            with precision.fp32_region(x):
                return self._forward(x, w.float(), torch.float32)
        return self._forward(x, w, x.dtype)

    def _forward(self, x: torch.Tensor, w: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """ToRGB computed in ``dtype`` (float32 for the fp32 island under bf16 autocast)."""
        styles = _styles(self.affine, w, x) * self.weight_gain
        if x.device.type == "cpu":  # the 1x1 convolution, bias and clamp in one pass (ops.pointwise_conv, which
            # computes a bf16 x with float32 weights in float32, reading it without a float32 copy)
            wb = sample_weights(self.weight, styles, None).flatten(2)                           # (B, O, I)
            return ops.pointwise_conv(x, wb.to(dtype), self.bias.to(dtype), clamp=self.conv_clamp)
        x = modulated_conv2d(x.to(dtype), self.weight, styles, demodulate=False)
        return ops.fused_bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution: [conv0 (x2 up)] + conv1 + torgb, adding to the upsampled skip image.

    The 4x4 block starts from a learned constant and has no conv0.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 conv_clamp: float | None):
        super().__init__()
        self.resolution = resolution
        if resolution == 4:
            self.const = nn.Parameter(torch.randn(out_channels, 4, 4))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.register_buffer("resample_filter", blur_filter(), persistent=False)
        self.num_conv = 1 if resolution == 4 else 2

    def forward(self, x, img, ws: torch.Tensor, noise_mode: str, noise: Sequence[torch.Tensor | None]):
        """x: (B, I, r/2, r/2) or None at 4x4; img: (B, 3, r/2, r/2) or None; ws: (B, num_conv + 1, w_dim)."""
        if self.resolution == 4:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = self.conv1(x, ws[:, 0], noise_mode, noise[0])
        else:
            x = self.conv0(x, ws[:, 0], noise_mode, noise[0])
            x = self.conv1(x, ws[:, 1], noise_mode, noise[1])
        y = self.torgb(x, ws[:, self.num_conv])
        img = y if img is None else ops.upsample2d(img, self.resample_filter) + y
        return x, img


class SynthesisNetwork(nn.Module):
    """W+ (B, num_ws, w_dim) -> image (B, img_channels, R, R), nominally in [-1, 1]."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        self.num_ws, self.w_dim = config.num_ws, config.w_dim
        prev = 0
        for r in config.resolutions:
            ch = config.channels_at(r)
            self.add_module(f"b{r}", SynthesisBlock(prev, ch, config.w_dim, r, config.img_channels,
                                                    config.conv_clamp))
            prev = ch

    @property
    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{r}") for r in self.config.resolutions]

    def noise_layers(self) -> list[SynthesisLayer]:
        """The noise-bearing layers in W+ order (num_ws - 1 of them)."""
        layers = []
        for block in self.blocks:
            if block.resolution > 4:
                layers.append(block.conv0)
            layers.append(block.conv1)
        return layers

    def make_noise(self, batch: int, generator: torch.Generator | None = None, device=None) -> list[torch.Tensor]:
        """Fresh noise maps, one per noise layer: each (batch, 1, r, r), drawn from ``generator`` (seedable)."""
        device = device or self.blocks[0].const.device
        return [torch.randn(batch, 1, layer.resolution, layer.resolution, generator=generator, device=device)
                for layer in self.noise_layers()]

    def forward(self, ws: torch.Tensor, noise_mode: str = "const",
                noise: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"w_plus must be (B, {self.num_ws}, {self.w_dim}); got {tuple(ws.shape)}. "
                             "Broadcast a W code explicitly with latentedit.latents.w_to_wplus.")
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}; got {noise_mode!r}")
        n_layers = len(self.noise_layers())
        if noise is not None and len(noise) != n_layers:
            raise ValueError(f"noise must be a list of {n_layers} tensors (one per noise layer); got {len(noise)}")
        noise = list(noise) if noise is not None else [None] * n_layers
        x = img = None
        w_idx = n_idx = 0
        channels_last = memory_format.channels_last_synthesis(ws, self)
        for block in self.blocks:
            if channels_last and block.resolution == memory_format.FROM_RESOLUTION:
                x = x.contiguous(memory_format=torch.channels_last)  # NHWC from here on (docs/ops.md)
            x, img = block(x, img, ws[:, w_idx: w_idx + block.num_conv + 1], noise_mode,
                           noise[n_idx: n_idx + block.num_conv])
            w_idx += block.num_conv
            n_idx += block.num_conv
        return img
