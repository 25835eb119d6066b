"""StyleGAN2's modulation/demodulation on linear layers, grouped: one weight per attribute group.

    y[b, g, n] = x[b, g, n] @ W'[b, g]^T,    W'[b, g, o, i] = W[g, o, i] * s[b, g, i]
    demodulated:  W'[b, g, o, i] /= sqrt(sum_i W'[b, g, o, i]^2 + eps)

The style enters as per-input-feature scales ``s`` (from an affine map of the style chunk, bias 1 so an all-zero
style means 'no modulation'), never by concatenation with the features. Demodulation keeps the output's expected
scale independent of the style, as in StyleGAN2's convolutions.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def modulated_linear(x: torch.Tensor, weight: torch.Tensor, scales: torch.Tensor, *, demodulate: bool = True,
                     eps: float = 1e-8) -> torch.Tensor:
    """x (B, G, N, I), weight (G, O, I), scales (B, G, I) -> (B, G, N, O)."""
    w = weight.unsqueeze(0) * scales.unsqueeze(2)                      # (B, G, O, I)
    if demodulate:
        w = w * torch.rsqrt(w.square().sum(dim=3, keepdim=True) + eps)
    return torch.einsum("bgni,bgoi->bgno", x, w)


def grouped_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x (B, G, ..., I), weight (G, O, I), bias (G, O) or None -> (B, G, ..., O): a separate linear per group."""
    shape = x.shape
    flat = x.reshape(shape[0], shape[1], -1, shape[-1])
    y = torch.einsum("bgni,goi->bgno", flat, weight)
    if bias is not None:
        y = y + bias[None, :, None, :]
    return y.reshape(*shape[:-1], weight.shape[1])


class GroupedLinear(nn.Module):
    """``grouped_linear`` with its parameters (Kaiming-uniform-like init); ``bias_init`` fills the bias."""

    def __init__(self, groups: int, in_dim: int, out_dim: int, *, bias_init: float = 0.0, weight_scale: float = 1.0):
        super().__init__()
        bound = weight_scale / math.sqrt(in_dim)
        self.weight = nn.Parameter(torch.empty(groups, out_dim, in_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.full((groups, out_dim), float(bias_init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, G, ..., in_dim) -> (B, G, ..., out_dim)."""
        return grouped_linear(x, self.weight, self.bias)


class ModulatedLinear(nn.Module):
    """A modulated (and demodulated) linear layer per group, with its style affine and a bias.

    ``forward(x (B, G, N, in_dim), style (B, G, cond_dim)) -> (B, G, N, out_dim)``.
    """

    def __init__(self, groups: int, cond_dim: int, in_dim: int, out_dim: int, *, demodulate: bool = True):
        super().__init__()
        self.affine = GroupedLinear(groups, cond_dim, in_dim, bias_init=1.0)   # style -> scales, 1 at style 0
        self.weight = nn.Parameter(torch.randn(groups, out_dim, in_dim) / math.sqrt(in_dim))
        self.bias = nn.Parameter(torch.zeros(groups, out_dim))
        self.demodulate = demodulate

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        scales = self.affine(style)                                           # (B, G, in_dim)
        y = modulated_linear(x, self.weight, scales, demodulate=self.demodulate)
        return y + self.bias[None, :, None, :]
