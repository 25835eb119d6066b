"""Map-to-style heads and the feature-pyramid merge of e4e/pSp.

``GradualStyleBlock(in, out, spatial)``: log2(spatial) stride-2 conv3x3 + LeakyReLU(0.01) layers take a
(B, in, s, s) map down to (B, out, 1, 1), then an equalised linear layer gives (B, out). Names (``convs.{2k}``,
``linear``) follow the official checkpoint.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def upsample_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """FPN merge: bilinear-upsample x (B, C, h, w) to y's size (align_corners=True, as e4e) and add y (B, C, H, W)."""
    return F.interpolate(x, size=y.shape[-2:], mode="bilinear", align_corners=True) + y


def equal_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, lr_mul: float = 1.0) -> torch.Tensor:
    """rosinality ``EqualLinear`` without activation: x (B, I) @ (weight * lr_mul / sqrt(I)).T + bias * lr_mul."""
    scale = lr_mul / math.sqrt(weight.shape[1])
    return F.linear(x, weight * scale, bias * lr_mul)


class EqualLinear(nn.Module):
    """Equalised-learning-rate linear layer: (B, in) -> (B, out); weight ~ N(0, 1) / lr_mul."""

    def __init__(self, in_features: int, out_features: int, lr_mul: float = 1.0):
        super().__init__()
        self.lr_mul = float(lr_mul)
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / self.lr_mul)
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return equal_linear(x, self.weight, self.bias, self.lr_mul)


class GradualStyleBlock(nn.Module):
    """(B, in_channels, spatial, spatial) -> (B, out_channels): one style code (or offset) per head."""

    def __init__(self, in_channels: int, out_channels: int, spatial: int):
        super().__init__()
        n = int(math.log2(spatial))
        if 2 ** n != spatial or n < 1:
            raise ValueError(f"GradualStyleBlock: spatial must be a power of two >= 2; got {spatial}")
        layers: list[nn.Module] = []
        for k in range(n):
            layers += [nn.Conv2d(in_channels if k == 0 else out_channels, out_channels, 3, 2, 1), nn.LeakyReLU()]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(out_channels, out_channels)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).reshape(x.shape[0], self.out_channels))
