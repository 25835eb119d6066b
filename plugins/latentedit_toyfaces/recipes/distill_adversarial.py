"""The adversarial term of the toy-faces generator recipe (``distill_toyfaces``; off unless ``adv_weight > 0``).

Distillation regresses ``G(z)`` onto its render with L1, and a generator that cannot yet place a thin mouth curve
or a nose line exactly draws it soft: a blurred edge is the cheapest answer under any pixel loss when its position
is uncertain. A patch discriminator (pix2pix's remedy) reads local texture only — is this edge as sharp as a
render's? — while the pixel loss keeps every sample on its own target, so the two together sharpen details
without letting samples drift from their factors.

* ``patch_discriminator``: (B, 3, R, R) in [-1, 1] -> (B, 1, R/8, R/8) logits, one per overlapping patch
  (receptive field 22 px at R = 64); built under its own seed so the run's random stream does not change.
* ``discriminator_loss``: non-saturating logistic loss on renders (real) vs samples (fake), plus R1
  (``gamma / 2 * E|grad_x D(real)|^2``).
* ``generator_adversarial_loss``: the non-saturating generator loss ``softplus(-D(fake))``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def patch_discriminator(channels: tuple[int, ...] = (32, 64, 128), seed: int = 0) -> nn.Sequential:
    """A PatchGAN: stride-2 4×4 convolutions with ``channels`` widths, LeakyReLU(0.2), then a 3×3 convolution to
    one logit per patch. Initial weights drawn from ``seed`` without touching the global random stream."""
    layers: list[nn.Module] = []
    cin = 3
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for c in channels:
            layers += [nn.Conv2d(cin, c, 4, 2, 1), nn.LeakyReLU(0.2)]
            cin = c
        layers.append(nn.Conv2d(cin, 1, 3, 1, 1))
    return nn.Sequential(*layers)


def discriminator_loss(D: nn.Module, fake: torch.Tensor, real: torch.Tensor, r1_gamma: float = 0.0) -> torch.Tensor:
    """Logistic loss of D on renders ``real`` and detached samples ``fake`` (both (B, 3, R, R)), plus R1 on the
    renders when ``r1_gamma > 0``. Means over patches and the batch."""
    real = real.detach().requires_grad_(r1_gamma > 0)
    real_logits = D(real)
    loss = F.softplus(D(fake.detach())).mean() + F.softplus(-real_logits).mean()
    if r1_gamma > 0:
        (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
        loss = loss + r1_gamma / 2 * grad.square().sum(dim=(1, 2, 3)).mean()
    return loss


def generator_adversarial_loss(D: nn.Module, fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: mean softplus(-D(fake)) over patches and the batch (gradients reach G)."""
    return F.softplus(-D(fake)).mean()
