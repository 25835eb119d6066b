"""The reference encoder: an image -> its W+ codes, so ``encode_style(images)`` works on any reference image.

Strided convolutions (each halves the side), a 4 x 4 average-pooled grid flattened, and a linear layer to
(num_ws, w_dim). Trained with the mapper: a latent regression to the W+ that drew the training references
(``LSTMapper.encode_style`` queues it) plus the edit's own losses, which reach it through the transfer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ReferenceEncoder(nn.Module):
    """images (B, 3, H, W) in [-1, 1] -> W+ codes (B, num_ws, w_dim)."""

    def __init__(self, num_ws: int, w_dim: int, channels: tuple[int, ...], *, input_size: int = 64):
        super().__init__()
        self.num_ws, self.w_dim, self.input_size = num_ws, w_dim, int(input_size)
        widths = (3,) + tuple(channels)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 4, stride=2, padding=1) for a, b in zip(widths[:-1], widths[1:]))
        self.norm = nn.LayerNorm(channels[-1] * 16)
        self.head = nn.Linear(channels[-1] * 16, num_ws * w_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"reference images must be (B, 3, H, W) in [-1, 1]; got {tuple(images.shape)}")
        x = images
        if self.input_size and tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
        h = self.norm(F.adaptive_avg_pool2d(x, 4).flatten(1))
        return self.head(h).view(-1, self.num_ws, self.w_dim)
