"""e4e's latent discriminator and its W history pool.

``LatentCodesDiscriminator(w_dim, n_layers)``: (n_layers - 1) x [Linear(w_dim, w_dim), LeakyReLU(0.2)] then
Linear(w_dim, 1); codes (B, w_dim) -> logits (B, 1). e4e uses (512, 4).

``WPool``: a history of codes (``use_w_pool``, size 50 in e4e). ``query(w)`` returns a batch where each row is,
with probability 1/2, an older code from the pool (replaced by the new one), else the new code; while the pool
fills up the new codes are returned and stored. Its contents are buffers, so training checkpoints carry them
and a resumed run continues exactly.
"""

from __future__ import annotations

import torch
from torch import nn


class LatentCodesDiscriminator(nn.Module):
    """codes (B, w_dim) -> logits (B, 1): real (mapped z) versus encoded."""

    def __init__(self, w_dim: int, n_layers: int = 4):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"LatentCodesDiscriminator needs n_layers >= 1; got {n_layers}")
        layers: list[nn.Module] = []
        for _ in range(n_layers - 1):
            layers += [nn.Linear(w_dim, w_dim), nn.LeakyReLU(0.2)]
        layers.append(nn.Linear(w_dim, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if w.ndim != 2:
            raise ValueError(f"LatentCodesDiscriminator expects codes (B, w_dim); got {tuple(w.shape)}")
        return self.mlp(w)


class WPool(nn.Module):
    """A history pool of ``size`` codes of width ``w_dim`` (size 0 = pass-through)."""

    def __init__(self, size: int, w_dim: int):
        super().__init__()
        self.size = int(size)
        self.register_buffer("items", torch.zeros(self.size, w_dim))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def query(self, w: torch.Tensor) -> torch.Tensor:
        """w (B, w_dim) -> (B, w_dim), mixing in older codes (uses the global torch RNG)."""
        if self.size == 0:
            return w
        w = w.detach()
        out = []
        for row in w:
            n = int(self.count)
            if n < self.size:
                self.items[n] = row.to(self.items)
                self.count += 1
                out.append(row)
            elif float(torch.rand(())) > 0.5:
                j = int(torch.randint(0, self.size, ()))
                old = self.items[j].clone()
                self.items[j] = row.to(self.items)
                out.append(old.to(row))
            else:
                out.append(row)
        return torch.stack(out)
