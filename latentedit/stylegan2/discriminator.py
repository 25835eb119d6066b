"""The residual StyleGAN2 discriminator with minibatch standard deviation: image (B, 3, R, R) -> logits (B, 1)."""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from latentedit.stylegan2.config import DiscriminatorConfig
from latentedit.stylegan2.layers import Conv2dLayer, FullyConnected


def minibatch_stddev(x: torch.Tensor, group_size: int = 4, num_channels: int = 1) -> torch.Tensor:
    """Append the mean std over groups of samples as extra channels: (B, C, H, W) -> (B, C + num_channels, H, W).

    The batch must be divisible by min(group_size, B).
    """
    b, c, h, w = x.shape
    g = min(group_size, b)
    if b % g:
        raise ValueError(f"minibatch std needs a batch divisible by {g}; got batch {b}")
    f = num_channels
    y = x.reshape(g, -1, f, c // f, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()   # (B/g, F, C/F, H, W)
    y = y.mean(dim=(2, 3, 4)).reshape(-1, f, 1, 1).repeat(g, 1, h, w)  # (B, F, H, W)
    return torch.cat([x, y], dim=1)


class DiscriminatorBlock(nn.Module):
    """Residual block at resolution r: (B, C_r, r, r) -> (B, C_{r/2}, r/2, r/2); fromrgb only at the top."""

    def __init__(self, in_channels: int, out_channels: int, resolution: int, img_channels: int, *,
                 is_top: bool, conv_clamp: float | None):
        super().__init__()
        self.is_top = is_top
        if is_top:
            self.fromrgb = Conv2dLayer(img_channels, in_channels, 1, activation="lrelu", conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(in_channels, in_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(in_channels, out_channels, 3, activation="lrelu", down=2, conv_clamp=conv_clamp)
        self.skip = Conv2dLayer(in_channels, out_channels, 1, bias=False, down=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.is_top:
            x = self.fromrgb(x)
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        return y + x


class DiscriminatorEpilogue(nn.Module):
    """4x4: minibatch std, 3x3 conv, FC, output FC -> (B, 1)."""

    def __init__(self, channels: int, *, mbstd_group: int, mbstd_channels: int, conv_clamp: float | None):
        super().__init__()
        self.mbstd_group, self.mbstd_channels = mbstd_group, mbstd_channels
        self.conv = Conv2dLayer(channels + mbstd_channels, channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.fc = FullyConnected(channels * 16, channels, activation="lrelu")
        self.out = FullyConnected(channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mbstd_channels > 0:
            x = minibatch_stddev(x, self.mbstd_group, self.mbstd_channels)
        x = self.conv(x)
        return self.out(self.fc(x.flatten(1)))


class Discriminator(nn.Module):
    """image (B, img_channels, R, R) in [-1, 1] -> realism logits (B, 1)."""

    def __init__(self, config: DiscriminatorConfig):
        super().__init__()
        if not isinstance(config, DiscriminatorConfig):
            raise TypeError(f"Discriminator needs a DiscriminatorConfig; got {type(config).__name__}")
        self.config = config
        for r in reversed(config.resolutions[1:]):
            self.add_module(f"b{r}", DiscriminatorBlock(config.channels_at(r), config.channels_at(r // 2), r,
                                                        config.img_channels, is_top=(r == config.resolution),
                                                        conv_clamp=config.conv_clamp))
        self.b4 = DiscriminatorEpilogue(config.channels_at(4), mbstd_group=config.mbstd_group,
                                        mbstd_channels=config.mbstd_channels, conv_clamp=config.conv_clamp)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        r = self.config.resolution
        if img.ndim != 4 or img.shape[1:] != (self.config.img_channels, r, r):
            raise ValueError(f"images must be (B, {self.config.img_channels}, {r}, {r}); got {tuple(img.shape)}")
        x = img
        for res in reversed(self.config.resolutions[1:]):
            x = getattr(self, f"b{res}")(x)
        return self.b4(x)
