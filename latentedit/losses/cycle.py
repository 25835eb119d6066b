"""Cycle consistency: edit to the target attributes, edit back to the source ones, compare with the start.

ISF-GAN uses both an L1 latent cycle (``lambda_lat_cyc``) and an L1 image cycle on ``G(w_back)`` vs ``G(w)``
(``lambda_src_cyc``), plus LPIPS on the image cycle (``lambda_lpips_cyc``; pass an ``LPIPSLoss`` for that).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def edit_and_back(mapper: Callable[..., torch.Tensor], w_plus: torch.Tensor, *, target: torch.Tensor,
                  source: torch.Tensor, z: torch.Tensor | None = None, z_back: torch.Tensor | None = None):
    """Return ``(w_edit, w_back)``: ``w_edit = mapper(w_plus, target=target, z=z)`` and
    ``w_back = mapper(w_edit, target=source, z=z_back)``. Shapes: w_plus (B, num_ws, w_dim); target/source
    (B, n_attr); z/z_back (B, z_dim) or None (then not passed)."""
    kw = {"z": z} if z is not None else {}
    w_edit = mapper(w_plus, target=target, **kw)
    kw_back = {"z": z_back} if z_back is not None else {}
    w_back = mapper(w_edit, target=source, **kw_back)
    return w_edit, w_back


def _check(a: torch.Tensor, b: torch.Tensor, name: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name}: the cycled and the source tensors must have the same shape; got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")


def latent_cycle_loss(w_back: torch.Tensor, w_src: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between the round-trip latents and the source, ``(B, num_ws, w_dim)`` each."""
    _check(w_back, w_src, "latent_cycle_loss")
    return (w_back - w_src).abs().mean()


def image_cycle_loss(x_back: torch.Tensor, x_src: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between round-trip images and source images, ``(B, 3, H, W)`` each."""
    _check(x_back, x_src, "image_cycle_loss")
    return (x_back - x_src).abs().mean()


class CycleLoss(nn.Module):
    """``weight * mean|a - b|`` (``kind="l1"``) or ``weight * mean((a - b)^2)`` (``kind="l2"``) on latents or images."""

    def __init__(self, *, weight: float = 1.0, kind: str = "l1"):
        super().__init__()
        if kind not in ("l1", "l2"):
            raise ValueError(f"CycleLoss kind must be 'l1' or 'l2'; got {kind!r}")
        self.weight = float(weight)
        self.kind = kind

    def forward(self, back: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
        _check(back, src, "CycleLoss")
        d = back - src
        return self.weight * (d.abs().mean() if self.kind == "l1" else d.square().mean())
