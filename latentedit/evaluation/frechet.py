"""Fréchet distance between two sets of feature vectors (the FID formula, in any feature space)."""

from __future__ import annotations

import numpy as np
import torch


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """a: (N, D), b: (M, D) features -> ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))."""
    from scipy import linalg

    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be (N, D) and (M, D); got {tuple(a.shape)} and {tuple(b.shape)}")
    x, y = a.double().cpu().numpy(), b.double().cpu().numpy()
    mu_x, mu_y = x.mean(0), y.mean(0)
    s_x, s_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    # Tr((S_x S_y)^(1/2)) = sum of sqrt(eigenvalues of S_x^(1/2) S_y S_x^(1/2)), a symmetric PSD matrix
    vals, vecs = linalg.eigh(s_x)
    root_x = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    trace_covmean = np.sqrt(np.clip(linalg.eigvalsh(root_x @ s_y @ root_x), 0, None)).sum()
    return float(((mu_x - mu_y) ** 2).sum() + np.trace(s_x) + np.trace(s_y) - 2 * trace_covmean)
