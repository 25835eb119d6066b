"""Diversity-sensitive loss (StarGAN v2, ISF-GAN): two outputs for the same input and different noise ``z``
should differ, so the loss is the *negative* mean L1 distance between them; minimising it spreads the outputs.

Its weight decays linearly to zero over ``decay_steps`` (StarGAN v2's ``ds_iter``; ISF-GAN parses the option but
never applies it, so its weight stays constant; ``decay_steps=0`` reproduces that).
"""

from __future__ import annotations

import torch
from torch import nn


def diversity_distance(out_a: torch.Tensor, out_b: torch.Tensor) -> torch.Tensor:
    """``mean|out_a - out_b|`` for two equally shaped outputs (images ``(B, 3, H, W)`` or latents)."""
    if out_a.shape != out_b.shape:
        raise ValueError(f"diversity_distance: the two outputs must have the same shape; got {tuple(out_a.shape)} "
                         f"and {tuple(out_b.shape)}")
    return (out_a - out_b).abs().mean()


def diversity_sensitive_loss(out_a: torch.Tensor, out_b: torch.Tensor) -> torch.Tensor:
    """``-diversity_distance(out_a, out_b)``: a loss to minimise (more diverse = lower)."""
    return -diversity_distance(out_a, out_b)


def linear_decay(weight: float, step: int, decay_steps: int) -> float:
    """``weight * max(0, 1 - step / decay_steps)``; constant ``weight`` when ``decay_steps <= 0``."""
    if decay_steps <= 0:
        return float(weight)
    return float(weight) * max(0.0, 1.0 - step / decay_steps)


class DiversityLoss(nn.Module):
    """``-linear_decay(weight, step, decay_steps) * mean|out_a - out_b|``.

    ``detach_second=True`` stops gradients through ``out_b`` (as StarGAN v2 does with its second sample).
    """

    def __init__(self, *, weight: float = 1.0, decay_steps: int = 0, detach_second: bool = True):
        super().__init__()
        if decay_steps < 0:
            raise ValueError(f"DiversityLoss decay_steps must be >= 0; got {decay_steps}")
        self.weight = float(weight)
        self.decay_steps = int(decay_steps)
        self.detach_second = detach_second

    def weight_at(self, step: int) -> float:
        """The decayed weight at training step ``step``."""
        return linear_decay(self.weight, step, self.decay_steps)

    def forward(self, out_a: torch.Tensor, out_b: torch.Tensor, *, step: int = 0) -> torch.Tensor:
        w = self.weight_at(step)
        if w == 0.0:
            return out_a.new_zeros(())
        return w * diversity_sensitive_loss(out_a, out_b.detach() if self.detach_second else out_b)
