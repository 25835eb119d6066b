"""The linear style transfer of one layer group (Li et al. 2019, "Learning Linear Transformations for Fast Image
and Video Style Transfer"), moved from CNN feature maps to W+ codes.

In the paper a feature map (C channels x N positions) is centred per channel, compressed to r channels, multiplied
by a predicted r x r matrix T and uncompressed, then the style's channel means are added. In W+ the channels are
the w_dim entries of a code and the positions are the group's layers (n of them)::

    X (B, n, D)  source codes of the group           Y (B, n, D)  reference codes of the group
    mu_s = mean_l X_l (B, D)                           mu_r = mean_l Y_l (B, D)
    C (r, D) compress, U (D, r) uncompress             (per group, learned)
    T = T_ref(Y) @ T_src(X)                 (B, r, r)  (the paper: sMatrix @ cMatrix)
    T_x(codes) = MLP(vec(F^T F / n)) -> (r, r),  F = phi(codes) (B, n, r): a covariance-like second moment of
                 the compressed codes (uncentred, so a broadcast W code, all layers equal, still has one)

    paper (keep_complement=False):  X'_l = U T C (X_l - mu_s) + mu_r
    ours  (keep_complement=True):   X'_l = X_l + U (T C (X_l - mu_s) + C mu_r - C X_l)
                                         = U T C (X_l - mu_s) + U C mu_r + (I - U C) X_l

With keep_complement the bottleneck carries the transfer and the source keeps what the bottleneck cannot carry,
(I - U C) X_l (its identity, when the attributes live in a few directions); when U C = I (r = D, U = C^-1) the two
forms are the same. Note that a W code broadcast to W+ has X_l = mu_s on every layer, so the T term is zero for it
and the transfer is the mean term alone (the paper's flat-image case); T acts on the layer-to-layer variation of
inverted W+ codes.
"""

from __future__ import annotations

import torch
from torch import nn


def second_moment(features: torch.Tensor) -> torch.Tensor:
    """features (B, n, r) -> (B, r, r): F^T F / n, the covariance-like statistic the matrix nets read."""
    return features.transpose(1, 2) @ features / features.shape[1]


def linear_transfer(x: torch.Tensor, y: torch.Tensor, t: torch.Tensor, compress: torch.Tensor,
                    uncompress: torch.Tensor, *, keep_complement: bool = True) -> torch.Tensor:
    """The transfer of one group, as a function: x, y (B, n, D) source/reference codes; t (B, r, r);
    compress (r, D); uncompress (D, r) -> (B, n, D) (see the module docstring for both forms)."""
    mu_s, mu_r = x.mean(dim=1, keepdim=True), y.mean(dim=1, keepdim=True)       # (B, 1, D)
    moved = (x - mu_s) @ compress.T @ t.transpose(1, 2)                         # (B, n, r): T C (x - mu_s)
    if keep_complement:
        return x + (moved + mu_r @ compress.T - x @ compress.T) @ uncompress.T
    return moved @ uncompress.T + mu_r


class MatrixNet(nn.Module):
    """codes (B, n, D) -> an r x r matrix (B, r, r): compress each layer's code (phi), take the second moment, an
    MLP on it. Starts at the identity matrix (last layer zero, bias = vec(I))."""

    def __init__(self, w_dim: int, rank: int, hidden: int):
        super().__init__()
        self.rank = rank
        self.phi = nn.Linear(w_dim, rank)
        self.mlp = nn.Sequential(nn.Linear(rank * rank, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, rank * rank))
        nn.init.zeros_(self.mlp[-1].weight)
        with torch.no_grad():
            self.mlp[-1].bias.copy_(torch.eye(rank).flatten())

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        f = self.phi(codes) / codes.shape[-1] ** 0.5                           # (B, n, r)
        return self.mlp(second_moment(f).flatten(1)).view(-1, self.rank, self.rank)


class GroupTransfer(nn.Module):
    """One group's compress C (r, D), uncompress U (D, r) and the two matrix nets (source, reference)."""

    def __init__(self, w_dim: int, rank: int, hidden: int, *, uncompress_init: float, keep_complement: bool):
        super().__init__()
        self.keep_complement = keep_complement
        c = torch.randn(rank, w_dim) / w_dim ** 0.5
        self.compress = nn.Parameter(c)
        self.uncompress = nn.Parameter(torch.linalg.pinv(c) * uncompress_init)
        self.source_net = MatrixNet(w_dim, rank, hidden)
        self.reference_net = MatrixNet(w_dim, rank, hidden)

    def matrix(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """T = T_ref(y) @ T_src(x): (B, r, r)."""
        return self.reference_net(y) @ self.source_net(x)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x, y (B, n, D) -> the transferred source codes (B, n, D)."""
        return linear_transfer(x, y, self.matrix(x, y), self.compress, self.uncompress,
                               keep_complement=self.keep_complement)
