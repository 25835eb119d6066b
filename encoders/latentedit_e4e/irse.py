"""The IR-SE backbone (ArcFace's improved residual units with squeeze-excitation), e4e/pSp layout.

Module names follow the official checkpoint (``input_layer.{0,1,2}``, ``body.{i}.shortcut_layer``,
``body.{i}.res_layer.{0..5}``, ``res_layer.5.fc1/fc2``), so an official ``encoder.*`` state dict loads by stripping
its prefix. The first unit of every stage halves the resolution.

    x (B, 3, R, R) -> stem (B, stem, R, R) -> stage 1 (R/2) -> stage 2 (R/4) -> stage 3 (R/8) -> stage 4 (R/16)
"""

from __future__ import annotations

import torch
from torch import nn


def unit_specs(stage_units, stage_widths, stem_width: int) -> list[tuple[int, int, int]]:
    """(in_channels, out_channels, stride) of every body unit in order; the first unit of a stage has stride 2."""
    specs, cin = [], stem_width
    for units, width in zip(stage_units, stage_widths, strict=True):
        specs.append((cin, width, 2))
        specs.extend((width, width, 1) for _ in range(units - 1))
        cin = width
    return specs


class SEModule(nn.Module):
    """Squeeze-excitation: x (B, C, H, W) -> x * sigmoid(fc2(relu(fc1(mean_hw(x)))))."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))


class BottleneckIRSE(nn.Module):
    """One IR-SE unit: BN -> conv3x3 -> PReLU -> conv3x3 (stride) -> BN -> SE, plus a shortcut.

    x (B, in, H, W) -> (B, out, H/stride, W/stride). The shortcut is a strided identity (MaxPool 1x1) when the
    width is kept, else conv1x1 (stride) + BN.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, se_reduction: int = 16):
        super().__init__()
        if in_channels == out_channels:
            self.shortcut_layer = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                                nn.BatchNorm2d(out_channels))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False),
            nn.PReLU(out_channels),
            nn.Conv2d(out_channels, out_channels, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            SEModule(out_channels, se_reduction),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut_layer(x) + self.res_layer(x)


class IRSEBackbone(nn.Module):
    """Stem + IR-SE body. ``forward`` returns the three pyramid taps (c1, c2, c3).

    x (B, 3, R, R) -> c1 (B, w2, R/4, R/4), c2 (B, w3, R/8, R/8), c3 (B, w4, R/16, R/16)
    where w2..w4 are ``stage_widths[1:]`` and the taps are the ends of stages 2, 3 and 4.
    """

    def __init__(self, stage_units, stage_widths, stem_width: int = 64, se_reduction: int = 16):
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(3, stem_width, 3, 1, 1, bias=False),
                                         nn.BatchNorm2d(stem_width), nn.PReLU(stem_width))
        self.body = nn.Sequential(*[BottleneckIRSE(cin, cout, s, se_reduction)
                                    for cin, cout, s in unit_specs(stage_units, stage_widths, stem_width)])
        ends = [sum(stage_units[: i + 1]) - 1 for i in range(4)]
        self.taps = (ends[1], ends[2], ends[3])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return backbone_taps(self.input_layer, self.body, self.taps, x)


def backbone_taps(input_layer: nn.Module, body, taps: tuple[int, int, int], x: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run the stem and the bottleneck units on images (B, 3, R, R); return the features after units ``taps``."""
    x = input_layer(x)
    out = []
    for i, unit in enumerate(body):
        x = unit(x)
        if i in taps:
            out.append(x)
    return out[0], out[1], out[2]
