"""The e4e training objective, as functions over one batch.

    total = l2 * MSE(y_hat, x) + lpips * LPIPS(y_hat, x) + id * (1 - cos(E(y_hat), E(x)))
          + attr * BCE(C(y_hat), sigmoid(C(x)))                                  (ours; C: attribute classifier)
          + delta_norm_lambda * sum_{i=1..stage} mean_b ||w_i - w_0||_p          (progressive training only)
          + w_discriminator_lambda * mean_{i in active} mean_b softplus(-D(w_i))  (latent discriminator)

x, y_hat (B, 3, R, R) in [-1, 1]; codes (B, num_ws, w_dim) as fed to the generator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from latentedit.losses import attribute_loss, lpips_loss


def delta_regulariser(codes: torch.Tensor, stage: int, p: int = 2) -> torch.Tensor:
    """sum over active offsets i = 1..stage of mean_b ||codes[:, i] - codes[:, 0]||_p; 0 at stage 0."""
    stage = min(stage, codes.shape[1] - 1)
    if stage < 1:
        return codes.new_zeros(())
    deltas = codes[:, 1:stage + 1] - codes[:, :1]
    return torch.linalg.vector_norm(deltas, ord=p, dim=2).mean(dim=0).sum()


def active_dims(stage: int, num_ws: int, progressive: bool) -> list[int]:
    """W+ rows the latent discriminator judges: the base code and the active offsets (all when not progressive)."""
    return list(range(num_ws)) if not progressive else list(range(min(stage, num_ws - 1) + 1))


def adversarial_encoder_loss(disc, codes: torch.Tensor, dims: list[int]) -> torch.Tensor:
    """Non-saturating loss that pushes every judged row of ``codes`` toward 'real' (mapped z)."""
    rows = codes[:, dims].reshape(-1, codes.shape[-1])
    return F.softplus(-disc(rows)).mean()


def attribute_preservation_loss(classifier, y_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """BCE of ``classifier`` logits (B, n_attr) on the reconstruction against its own probabilities on the input."""
    with torch.no_grad():
        goal = classifier(x).float().sigmoid()
    return attribute_loss(classifier(y_hat).float(), goal)


def e4e_loss(cfg, x: torch.Tensor, y_hat: torch.Tensor, codes: torch.Tensor, stage: int, *, lpips_model=None,
             identity=None, disc=None, attributes=None) -> tuple[torch.Tensor, dict[str, float]]:
    """(total loss, {name: value}) of one batch; terms with weight 0 or no model are skipped."""
    parts: dict[str, torch.Tensor] = {}
    if cfg.l2_lambda:
        parts["l2"] = cfg.l2_lambda * F.mse_loss(y_hat, x)
    if cfg.lpips_lambda and lpips_model is not None:
        parts["lpips"] = cfg.lpips_lambda * lpips_loss(y_hat, x, lpips_model)
    if cfg.id_lambda and identity is not None:
        parts["id"] = cfg.id_lambda * identity(y_hat, x)
    if cfg.attr_lambda and attributes is not None:
        parts["attr"] = cfg.attr_lambda * attribute_preservation_loss(attributes, y_hat, x)
    progressive = cfg.progressive_start is not None
    if progressive and cfg.delta_norm_lambda:
        parts["delta"] = cfg.delta_norm_lambda * delta_regulariser(codes, stage, cfg.delta_norm)
    if cfg.w_discriminator_lambda and disc is not None:
        dims = active_dims(stage, codes.shape[1], progressive)
        parts["adv"] = cfg.w_discriminator_lambda * adversarial_encoder_loss(disc, codes, dims)
    total = sum(parts.values(), codes.new_zeros(()))
    return total, {k: float(v.detach()) for k, v in parts.items()}
