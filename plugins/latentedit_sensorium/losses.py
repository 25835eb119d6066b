"""The sensorium losses that ``latentedit.losses.LOSS_NAMES`` lacks (used by ``training.py``).

| name                 | function                                          | measures                                  |
|----------------------|---------------------------------------------------|-------------------------------------------|
| reference_attribute  | ``reference_attribute_loss(logits, ref_labels)``  | the edit shows the *reference's* labels   |
| self_reconstruction  | ``self_reconstruction_loss(w_self, w_src)``       | own style in -> own latents out (L1)      |
| kl                   | ``style_encoder.kl_to_standard_normal(mu, logvar)`` | encoder posterior vs N(0, I)            |

The others (``lpips``, ``identity``, ``latent_cycle``, ``neighbourhood``) come from ``latentedit.losses``.
"""

from __future__ import annotations

import torch

from latentedit.losses import attribute_loss
from latentedit_sensorium.style_encoder import kl_to_standard_normal

EXTRA_LOSS_NAMES: dict[str, str] = {
    "reference_attribute": "BCE of the frozen classifier on the edit vs the reference's labels (reconstruct the "
                           "reference's attributes on the source)",
    "self_reconstruction": "L1 between the source latents and their edit with the source's own style",
    "kl": "KL(N(mu, sigma^2) || N(0, I)) of the style encoder's posterior, batch mean",
}

__all__ = ["EXTRA_LOSS_NAMES", "kl_to_standard_normal", "reference_attribute_loss", "self_reconstruction_loss"]


def reference_attribute_loss(logits: torch.Tensor, ref_labels: torch.Tensor,
                             mask: torch.Tensor | None = None) -> torch.Tensor:
    """logits (B, n_attr) of the edited images, ref_labels (B, n_attr) in {0, 1}, mask (B, n_attr) or None ->
    scalar BCE (attributes outside ``mask`` are not asked to follow the reference)."""
    return attribute_loss(logits, ref_labels, mask=mask)


def self_reconstruction_loss(w_self: torch.Tensor, w_src: torch.Tensor) -> torch.Tensor:
    """w_self, w_src (B, L, D) -> scalar mean |w_self - w_src|."""
    if w_self.shape != w_src.shape:
        raise ValueError(f"self_reconstruction_loss: expected two latents of one shape; got {tuple(w_self.shape)} "
                         f"and {tuple(w_src.shape)}")
    return (w_self - w_src).abs().mean()
