"""Adversarial terms for a jointly trained discriminator (StarGAN-v2 / ISF-GAN style): non-saturating logistic
losses and the R1 gradient penalty.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating G loss ``mean(softplus(-D(fake)))``; logits of any shape ``(B, ...)``."""
    return F.softplus(-fake_logits).mean()


def discriminator_adversarial_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D loss ``mean(softplus(-D(real))) + mean(softplus(D(fake)))``."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def r1_penalty(real_outputs: torch.Tensor, real_inputs: torch.Tensor) -> torch.Tensor:
    """R1: ``0.5 * mean_b ||d sum(real_outputs) / d real_inputs_b||^2``.

    ``real_inputs`` (B, ...) must have ``requires_grad=True`` before the discriminator ran on them;
    ``real_outputs`` are the logits the penalty is taken on (ISF-GAN takes it on the classifier logits).
    """
    if not real_inputs.requires_grad:
        raise ValueError("r1_penalty: call real_inputs.requires_grad_(True) before running the discriminator on them")
    (grad,) = torch.autograd.grad(real_outputs.sum(), real_inputs, create_graph=True)
    return 0.5 * grad.square().reshape(grad.shape[0], -1).sum(dim=1).mean()
