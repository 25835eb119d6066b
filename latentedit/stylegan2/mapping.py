"""The mapping network z -> w, the running average ``w_avg`` and truncation toward it."""

from __future__ import annotations

import torch
import torch.nn as nn

from latentedit.stylegan2.config import GeneratorConfig
from latentedit.stylegan2.layers import FullyConnected, normalize_2nd_moment


def truncate(w: torch.Tensor, w_avg: torch.Tensor, psi: float = 1.0, cutoff: int | None = None) -> torch.Tensor:
    """Pull W+ codes toward ``w_avg``: ``w_avg + psi * (w - w_avg)`` on layers ``[0, cutoff)`` (all when None).

    w: (B, num_ws, w_dim); w_avg: (w_dim,). Returns a new tensor of the same shape.
    """
    if psi == 1:
        return w
    if w.ndim != 3:
        raise ValueError(f"truncate expects W+ codes (B, num_ws, w_dim); got {tuple(w.shape)}")
    if cutoff is None:
        return w_avg.lerp(w, psi)
    out = w.clone()
    out[:, :cutoff] = w_avg.lerp(w[:, :cutoff], psi)
    return out


class MappingNetwork(nn.Module):
    """z (B, z_dim) -> w (B, w_dim) through pixel norm and ``mapping_layers`` lrelu FC layers (lr multiplier 0.01).

    ``forward`` returns W+ codes (B, num_ws, w_dim) with optional truncation; ``z_to_w`` returns single W codes.
    """

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.z_dim, self.w_dim, self.num_ws = config.z_dim, config.w_dim, config.num_ws
        self.w_avg_beta = config.w_avg_beta
        features = [config.z_dim] + [config.w_dim] * config.mapping_layers
        for i in range(config.mapping_layers):
            self.add_module(f"fc{i}", FullyConnected(features[i], features[i + 1], activation="lrelu",
                                                     lr_mul=config.mapping_lr_mul))
        self.num_layers = config.mapping_layers
        self.register_buffer("w_avg", torch.zeros(config.w_dim))

    def z_to_w(self, z: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """z: (B, z_dim) -> w: (B, w_dim). ``normalize=False`` skips the 2nd-moment normalisation of z (for a z
        that is already the normalised input, e.g. an exactly edited one)."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be (B, {self.z_dim}); got {tuple(z.shape)}")
        x = z.to(self.w_avg.dtype)
        x = normalize_2nd_moment(x) if normalize else x
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        return x

    @torch.no_grad()
    def update_w_avg(self, w: torch.Tensor) -> None:
        """Training-time running average: ``w_avg <- lerp(mean(w), w_avg, beta)``. w: (B, w_dim)."""
        self.w_avg.copy_(w.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, truncation_cutoff: int | None = None
                ) -> torch.Tensor:
        """z: (B, z_dim) -> W+: (B, num_ws, w_dim), truncated toward ``w_avg`` when psi != 1."""
        w = self.z_to_w(z).unsqueeze(1).repeat(1, self.num_ws, 1)
        return truncate(w, self.w_avg, truncation_psi, truncation_cutoff)
