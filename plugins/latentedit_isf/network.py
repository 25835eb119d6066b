"""The building blocks of ISF-GAN's implicit style function, as functions first and thin modules over them.

Shapes: B batch, L W+ layers (``num_ws``), D ``w_dim``, H hidden width, Z ``z_dim``, C code width.

    code     (B, C)      attribute code d (values, plus an 'edit' mask when ``keep_code``)
    z        (B, Z)      noise
    trunk    (B, H)      Linear(Z+C -> H) + ReLU, then k x [LayerNorm, Linear, ReLU]       (ISF ZNetwork, pre_norm)
    s        (B, L, H)   one condition head per W+ layer (Linear-ReLU-...-Linear; unshared unless configured)
    w'       (B, L, D)   AdaLN: (1 + gamma) * LN(w) + beta, with (gamma, beta) = Linear(H -> 2D)(s)
    out      (B, L, D)   output MLP on each layer: (n-1) x [LN, Linear, ReLU] + [LN, Linear]
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def adaptive_layer_norm(w: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``(1 + gamma) * LayerNorm(w) + beta`` over the last dim; w, gamma, beta: (B, L, D)."""
    return (1.0 + gamma) * F.layer_norm(w, w.shape[-1:], eps=eps) + beta


def per_layer_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """x (B, L, I), weight (L, I, O) or (1, I, O) (shared), bias (L, O) or (1, O) -> (B, L, O)."""
    if weight.shape[0] == 1:
        return x @ weight[0] + bias[0]
    return torch.einsum("bli,lio->blo", x, weight) + bias


class PerLayerLinear(nn.Module):
    """``n`` independent Linear(I -> O) maps, one per W+ layer (``n = 1``: one map shared by every layer)."""

    def __init__(self, n: int, in_dim: int, out_dim: int):
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)  # the nn.Linear default range
        self.weight = nn.Parameter(torch.empty(n, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n, out_dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, I) -> (B, L, O)."""
        return per_layer_linear(x, self.weight, self.bias)


class ConditionNetwork(nn.Module):
    """(z, code) -> per-layer conditions s (B, L, H): ISF-GAN's ZNetwork with its unshared heads."""

    def __init__(self, in_dim: int, hidden: int, num_ws: int, *, trunk_blocks: int, head_layers: int,
                 shared_heads: bool):
        super().__init__()
        self.num_ws = num_ws
        blocks: list[nn.Module] = [nn.Linear(in_dim, hidden), nn.ReLU()]
        for _ in range(trunk_blocks):
            blocks += [nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.ReLU()]
        self.trunk = nn.Sequential(*blocks)
        n = 1 if shared_heads else num_ws
        self.heads = nn.ModuleList(PerLayerLinear(n, hidden, hidden) for _ in range(head_layers))

    def forward(self, z_and_code: torch.Tensor) -> torch.Tensor:
        """(B, Z + C) -> (B, L, H)."""
        h = self.trunk(z_and_code).unsqueeze(1).expand(-1, self.num_ws, -1)
        for i, head in enumerate(self.heads):
            h = head(h)
            if i < len(self.heads) - 1:
                h = F.relu(h)
        return h


class AdaLN(nn.Module):
    """``(1 + gamma) * LN(w) + beta`` with (gamma, beta) from a Linear(H -> 2D) of the condition (shared by layers)."""

    def __init__(self, cond_dim: int, w_dim: int):
        super().__init__()
        self.affine = nn.Linear(cond_dim, 2 * w_dim)

    def forward(self, w: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """w (B, L, D), s (B, L, H) -> (B, L, D)."""
        gamma, beta = self.affine(s).chunk(2, dim=-1)
        return adaptive_layer_norm(w, gamma, beta)


def output_mlp(w_dim: int, hidden: int, n_layers: int) -> nn.Sequential:
    """(n_layers - 1) x [LayerNorm, Linear, ReLU] + [LayerNorm, Linear(-> w_dim)], applied on the last dim."""
    mods: list[nn.Module] = []
    width = w_dim
    for _ in range(n_layers - 1):
        mods += [nn.LayerNorm(width), nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    mods += [nn.LayerNorm(width), nn.Linear(width, w_dim)]
    return nn.Sequential(*mods)
