"""Tiny pieces for trying the trainer in seconds (tests, benchmarks, docs): a toy mapper, a frozen linear
classifier and a random generator. None of them is registered anywhere; register the mapper yourself::

    from latentedit.plugins import register_mapper
    register_mapper("toy-shift", ToyShiftMapper)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from latentedit.plugins.config import MapperConfig
from latentedit.plugins.contract import Mapper


@dataclass(frozen=True)
class ToyShiftConfig(MapperConfig):
    hidden: int = field(default=16, metadata={"doc": "width of the residual MLP"})
    z_dim: int = field(default=0, metadata={"doc": "noise width (0 = deterministic mapper)"})
    style_dim: int = field(default=0, metadata={"doc": "reference-style width (0 = no style)"})


class ToyShiftMapper(Mapper):
    """``w' = w + (2*target - 1) @ dirs + MLP([w_mean, target, z, style])`` broadcast over the W+ layers.

    Starts as the identity (``dirs`` and the MLP's last layer are zero). ``takes_noise``/``takes_style`` are
    fixed per class; ``ToyNoiseMapper`` and ``ToyStyleMapper`` turn them on.
    """

    config_class = ToyShiftConfig

    def __init__(self, config, generator_info):
        super().__init__(config, generator_info)
        gi, c = generator_info, self.config
        self.dirs = nn.Parameter(torch.zeros(gi.n_attr, gi.w_dim))
        extra = (c.z_dim if self.takes_noise else 0) + (c.style_dim if self.takes_style else 0)
        self.mlp = nn.Sequential(nn.Linear(gi.w_dim + gi.n_attr + extra, c.hidden), nn.SiLU(),
                                 nn.Linear(c.hidden, gi.w_dim))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    @classmethod
    def default_loss_weights(cls):
        return {"attribute": 1.0, "latent_l2": 0.01}

    def forward(self, w_plus, *, target, z=None, style=None):
        parts = [w_plus.mean(dim=1), target] + [t for t in (z, style) if t is not None]
        delta = (2 * target - 1) @ self.dirs + self.mlp(torch.cat(parts, dim=1))
        return w_plus + delta[:, None, :]


class ToyNoiseMapper(ToyShiftMapper):
    """The toy mapper with noise ``z`` (multimodal)."""

    takes_noise = True

    @classmethod
    def default_loss_weights(cls):
        return {"attribute": 1.0, "latent_l2": 0.01, "diversity": 0.1}


class ToyStyleMapper(ToyShiftMapper):
    """The toy mapper with a reference style and the ``encode_style`` hook (a linear style encoder on W+)."""

    takes_style = True

    def __init__(self, config, generator_info):
        super().__init__(config, generator_info)
        self.style_encoder = nn.Linear(generator_info.w_dim, max(self.config.style_dim, 1))

    def encode_style(self, *, images, w_plus):
        """(B, 3, H, W), (B, num_ws, w_dim) -> (B, style_dim)."""
        return self.style_encoder(w_plus.mean(dim=1))


class LinearJudge(nn.Module):
    """A frozen random linear classifier: images (B, 3, H, W) -> logits (B, n_attr).

    ``logits = scale * (pool(x) @ proj - offset)``; calibrate ``offset`` to the median over some images with
    ``calibrate(images)`` so about half of them are positive for every attribute.
    """

    def __init__(self, n_attr: int = 2, *, pool: int = 4, scale: float = 4.0, seed: int = 0,
                 names: tuple[str, ...] | None = None):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.pool = pool
        self.register_buffer("proj", torch.randn(3 * pool * pool, n_attr, generator=g) / (3 * pool * pool) ** 0.5)
        self.register_buffer("offset", torch.zeros(n_attr))
        self.scale = float(scale)
        self.output_names = tuple(names or [f"attr{i}" for i in range(n_attr)])

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.adaptive_avg_pool2d(x.float(), self.pool).flatten(1) @ self.proj

    @torch.no_grad()
    def calibrate(self, images: torch.Tensor) -> LinearJudge:
        s = self.score(images)
        self.offset.copy_(s.median(dim=0).values)
        self.scale = float(4.0 / (s.std(dim=0).mean() + 1e-6))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * (self.score(x) - self.offset)


def tiny_generator(resolution: int = 16, *, z_dim: int = 8, w_dim: int = 8, channels: int = 8, seed: int = 0):
    """A random StyleGAN2 generator (every parameter perturbed so images vary with W), eval mode, frozen."""
    from latentedit.stylegan2 import Generator, GeneratorConfig

    g = torch.Generator().manual_seed(seed)
    n = len(range(2, resolution.bit_length()))
    with torch.random.fork_rng(devices=[]):  # the init draws from the global RNG: pin it, leave the caller's alone
        torch.manual_seed(seed)
        G = Generator(GeneratorConfig(resolution=resolution, z_dim=z_dim, w_dim=w_dim, mapping_layers=2,
                                      channels=(channels,) * n))
    with torch.no_grad():
        for p in G.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
        G.mapping.w_avg.normal_(generator=g)
    return G.eval().requires_grad_(False)


def calibrated_judge(G, n_attr: int = 2, *, samples: int = 64, seed: int = 0) -> LinearJudge:
    """A ``LinearJudge`` calibrated on ``samples`` images of ``G`` (truncation 0.7)."""
    z = torch.randn(samples, G.z_dim, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        imgs = G.synthesis(G.mapping(z, truncation_psi=0.7), noise_mode="const")
    return LinearJudge(n_attr, seed=seed).calibrate(imgs).eval()
