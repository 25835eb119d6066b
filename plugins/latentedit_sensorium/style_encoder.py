"""The style encoder: a reference image -> a Gaussian over style vectors (mean and log-variance heads).

A small ResNet (residual stages that halve the resolution), global average pooling (one global style per image,
as Sensorium's style network), then two linear heads. ``kl_to_standard_normal`` keeps the posterior near N(0, I)
(SMIS/VAE), so styles can also be *sampled* from the prior without a reference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over the style dims, averaged over the batch.

    mu, logvar (B, S) -> scalar: ``mean_b 0.5 * sum_s (mu^2 + exp(logvar) - 1 - logvar)``."""
    return (0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(dim=1)).mean()


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor, *, generator: torch.Generator | None = None):
    """A sample ``mu + exp(logvar / 2) * eps`` (B, S), eps ~ N(0, I) drawn on the CPU from ``generator``."""
    eps = torch.randn(mu.shape, generator=generator).to(mu)
    return mu + (0.5 * logvar).exp() * eps


def coordinate_channels(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 2, H, W): y and x coordinates in [-1, 1] (CoordConv), so features after global average
    pooling can still say *where* something is (aligned faces: glasses are at the eyes)."""
    b, _, h, w = x.shape
    ys = torch.linspace(-1.0, 1.0, h, dtype=x.dtype, device=x.device)
    xs = torch.linspace(-1.0, 1.0, w, dtype=x.dtype, device=x.device)
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"))
    return grid.unsqueeze(0).expand(b, -1, -1, -1)


#: pooling of the last feature map -> number of cells: 'gap' (Sensorium's global average pooling: one global
#: style, no positions) or 'grid' (average-pooled to 4 x 4 and flattened, as the toy judges read: a local
#: attribute such as the mouth's curve stays readable; with 'gap' the toy smile was read at chance)
POOLS = {"gap": 1, "grid": 16}


class ResBlock(nn.Module):
    """Pre-activation residual block that halves the resolution: (B, C_in, H, W) -> (B, C_out, H/2, W/2)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.leaky_relu(x, 0.2))
        h = self.conv2(F.leaky_relu(h, 0.2))
        return F.avg_pool2d(h + self.skip(x), 2) * 0.5 ** 0.5   # two paths summed: keep the variance


class StyleEncoder(nn.Module):
    """images (B, 3, H, W) in [-1, 1] -> (mu (B, S), logvar (B, S)).

    ``input_size`` > 0 resizes the images first (area/bilinear), so references of any size work; ``coords`` adds
    two coordinate channels to the input (CoordConv)."""

    def __init__(self, style_dim: int, channels: tuple[int, ...], *, input_size: int = 64, coords: bool = True,
                 normalise: bool = False, pool: str = "gap"):
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"StyleEncoder pool must be one of {sorted(POOLS)}; got {pool!r}")
        self.pool = pool
        self.input_size, self.coords = int(input_size), bool(coords)
        self.stem = nn.Conv2d(3 + 2 * self.coords, channels[0], 3, padding=1)
        self.stages = nn.Sequential(*[ResBlock(a, b) for a, b in zip((channels[0],) + tuple(channels[:-1]),
                                                                     channels)])
        pooled = channels[-1] * POOLS[pool]
        # normalise: He-initialised convolutions and a LayerNorm on the pooled features. With PyTorch's default
        # init the pooled features of two faces differ by ~0.003 (their common part is ~0.01), so the heads see
        # almost the same vector for every face and learn nothing for hundreds of steps.
        self.norm = nn.LayerNorm(pooled) if normalise else nn.Identity()
        if normalise:
            for conv in self.modules():
                if isinstance(conv, nn.Conv2d):
                    nn.init.kaiming_normal_(conv.weight, a=0.2, nonlinearity="leaky_relu")
                    if conv.bias is not None:
                        nn.init.zeros_(conv.bias)
        self.mu = nn.Linear(pooled, style_dim)
        self.logvar = nn.Linear(pooled, style_dim)
        nn.init.zeros_(self.logvar.weight)
        nn.init.constant_(self.logvar.bias, -2.0)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"reference images must be (B, 3, H, W) in [-1, 1]; got {tuple(images.shape)}")
        x = images
        if self.input_size and tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            mode = "area" if min(x.shape[-2:]) >= self.input_size else "bilinear"
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode=mode)
        if self.coords:
            x = torch.cat([x, coordinate_channels(x)], dim=1)
        h = self.stages(self.stem(x))
        h = F.leaky_relu(h, 0.2)
        if self.pool == "gap":
            h = h.mean(dim=(2, 3))                                 # global average pooling: (B, C)
        else:                                                      # a 4 x 4 grid, flattened: (B, 16 C)
            h = F.adaptive_avg_pool2d(h, 4).flatten(1)
        h = self.norm(h)
        return self.mu(h), self.logvar(h).clamp(-10.0, 10.0)
