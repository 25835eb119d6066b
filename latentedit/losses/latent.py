"""Latent regularisers: keep the edited ``w_plus'`` close to the source ``w_plus``.

- ``latent_l2_loss``: mean squared difference over all entries (StyleCLIP's ``latent_l2_lambda`` term, 0.8).
- ``neighbourhood_loss``: ISF-GAN's neighbourhood term ``||w - w'||_2``: the Euclidean norm of the whole
  per-sample difference ``(num_ws * w_dim)``, averaged over the batch (``lambda_nb`` 0.01 in its SG2 recipe).
  ``per_layer=True`` takes the norm per W+ layer and averages over layers and batch instead.
"""

from __future__ import annotations

import torch
from torch import nn


def check_latent_pair(a: torch.Tensor, b: torch.Tensor, *, name: str) -> None:
    """Both ``(B, num_ws, w_dim)`` (or any equal shapes with a batch dimension), else a ValueError."""
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor) or a.ndim < 2 or a.shape != b.shape:
        raise ValueError(f"{name}: expected two latents of equal shape (B, num_ws, w_dim); got "
                         f"{tuple(getattr(a, 'shape', ()))} and {tuple(getattr(b, 'shape', ()))}")


def latent_l2_loss(w_edit: torch.Tensor, w_src: torch.Tensor) -> torch.Tensor:
    """``mean((w_edit - w_src)^2)`` over every entry of ``(B, num_ws, w_dim)``."""
    check_latent_pair(w_edit, w_src, name="latent_l2_loss")
    return (w_edit - w_src).square().mean()


def neighbourhood_loss(w_edit: torch.Tensor, w_src: torch.Tensor, *, per_layer: bool = False) -> torch.Tensor:
    """Mean over the batch of ``||w_edit - w_src||_2`` (per sample, or per layer when ``per_layer``)."""
    check_latent_pair(w_edit, w_src, name="neighbourhood_loss")
    diff = w_edit - w_src
    if per_layer:
        return torch.linalg.vector_norm(diff, dim=-1).mean()
    return torch.linalg.vector_norm(diff.reshape(diff.shape[0], -1), dim=1).mean()


class LatentL2Loss(nn.Module):
    """``weight * latent_l2_loss(w_edit, w_src)``."""

    def __init__(self, *, weight: float = 1.0):
        super().__init__()
        self.weight = float(weight)

    def forward(self, w_edit: torch.Tensor, w_src: torch.Tensor) -> torch.Tensor:
        return self.weight * latent_l2_loss(w_edit, w_src)


class NeighbourhoodLoss(nn.Module):
    """``weight * neighbourhood_loss(w_edit, w_src)``."""

    def __init__(self, *, weight: float = 1.0, per_layer: bool = False):
        super().__init__()
        self.weight = float(weight)
        self.per_layer = per_layer

    def forward(self, w_edit: torch.Tensor, w_src: torch.Tensor) -> torch.Tensor:
        return self.weight * neighbourhood_loss(w_edit, w_src, per_layer=self.per_layer)
