"""A factor estimator read as an identity embedder: its identity-factor columns only.

``--embedder judge_factors_seed101.safetensors`` (any toy factor-estimator file) in the identity role gives
``IdentityFactors``: images (B, 3, H, W) in [-1, 1] -> the estimated identity factors (B, len(IDENTITY_FACTORS))
in [0, 1]. With ``trainer.losses.identity_distance: l1`` the identity loss is then the mean |Δ| of those factors, the
quantity the evaluation reports as identity Δ. Train with a *teacher* estimator (another seed, e.g. the shipped
``judge_factors_seed101.safetensors``), never with the evaluation's own judge (``judge_factors.safetensors``).
"""

from __future__ import annotations

import torch
from torch import nn

from latentedit_toyfaces.factors import IDENTITY_INDEX


class IdentityFactors(nn.Module):
    """A frozen factor estimator (B, 3, H, W) -> (B, n_factors), narrowed to the identity columns."""

    def __init__(self, estimator: nn.Module):
        super().__init__()
        self.estimator = estimator.eval().requires_grad_(False)
        self.register_buffer("columns", torch.tensor(IDENTITY_INDEX, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.estimator(x).index_select(1, self.columns)


def load_identity_factors(path) -> IdentityFactors:
    """The domain reader of factor-estimator files in the identity role."""
    from latentedit_toyfaces.judges import load_judge_file

    return IdentityFactors(load_judge_file(path, names=("factors",)))
