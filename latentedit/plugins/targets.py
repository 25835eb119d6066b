"""Target conditioning shared by mappers at inference and in training (no trainer import): NaN means 'keep'."""

from __future__ import annotations

import torch


def keep_unchanged(target: torch.Tensor, source: torch.Tensor, u: torch.Tensor, prob: float) -> torch.Tensor:
    """The target a mapper is asked (``condition_target`` hooks): each attribute ``target (b, n_attr)`` leaves at
    its ``source (b, n_attr)`` label becomes NaN (keep) where the uniform draw ``u (b, n_attr)`` is below ``prob``."""
    if prob == 0.0:
        return target
    drop = (target == source) & (u.to(target.device) < prob)
    return torch.where(drop, torch.full_like(target, float("nan")), target)
