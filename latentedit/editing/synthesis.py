"""W+ codes -> images with a StyleGAN2 generator (deterministic noise)."""

from __future__ import annotations

import torch


@torch.no_grad()
def synthesize(generator, w_plus: torch.Tensor, *, batch_size: int = 16) -> torch.Tensor:
    """w_plus (B, num_ws, w_dim) -> images (B, 3, R, R) in [-1, 1] (clamped), on the codes' device; constant
    noise, so the same codes always give the same image."""
    out = [generator.synthesis(chunk, noise_mode="const").clamp(-1, 1) for chunk in w_plus.split(batch_size)]
    return torch.cat(out)
