"""The KL term as a gradient hook, for trainers that know no KL loss (the shared trainer's LOSS_NAMES has none).

``with_kl_gradient(mu, logvar, weight)`` returns ``mu, logvar`` unchanged; on the backward pass it adds
``weight * d KL(N(mu, exp(logvar)) || N(0, I)) / d(mu, logvar)`` (the batch-mean KL of
``style_encoder.kl_to_standard_normal``) to their gradients. The trainer then optimises ``loss + weight * KL``
without knowing the term; its value is not logged (the reference-transfer loop in ``training.py`` logs it).
"""

from __future__ import annotations

import torch


class _KLGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, mu, logvar, weight: float):
        ctx.save_for_backward(mu, logvar)
        ctx.weight = float(weight)
        return mu.view_as(mu), logvar.view_as(logvar)

    @staticmethod
    def backward(ctx, g_mu, g_logvar):
        mu, logvar = ctx.saved_tensors
        k = ctx.weight / mu.shape[0]
        g_mu = (torch.zeros_like(mu) if g_mu is None else g_mu) + k * mu
        g_logvar = (torch.zeros_like(logvar) if g_logvar is None else g_logvar) + k * 0.5 * (logvar.exp() - 1.0)
        return g_mu, g_logvar, None


def with_kl_gradient(mu: torch.Tensor, logvar: torch.Tensor, weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """mu, logvar (B, S) -> the same values, whose backward adds ``weight`` x the KL's gradient."""
    if weight == 0.0 or not torch.is_grad_enabled() or not (mu.requires_grad or logvar.requires_grad):
        return mu, logvar
    return _KLGradient.apply(mu, logvar, weight)
