"""InterFaceGAN: a linear SVM hyperplane per attribute, conditional projection, edits by distance or step.

Functions over plain tensors; ``DirectionsMapper`` wraps them in the mapper contract.
"""

from __future__ import annotations

import numpy as np
import torch


def train_boundary(codes: torch.Tensor, scores: torch.Tensor, *, ratio: float = 0.02, split: float = 0.7,
                   seed: int = 0, c: float = 1.0) -> tuple[torch.Tensor, float, dict]:
    """Fit a linear SVM on the top/bottom ``ratio`` of codes ranked by score.

    codes: (N, D); scores: (N,) (classifier logits or probabilities). Returns (unit normal n (D,), offset b,
    stats) with signed distance ``d(x) = x @ n + b`` (> 0 on the positive side).
    """
    from sklearn.svm import LinearSVC

    if codes.ndim != 2 or scores.ndim != 1 or len(codes) != len(scores):
        raise ValueError(f"codes must be (N, D) and scores (N,); got {tuple(codes.shape)} and {tuple(scores.shape)}")
    n = len(codes)
    k = max(int(round(n * ratio)), 2) if ratio < 0.5 else n // 2
    order = torch.argsort(scores, descending=True)
    pos, neg = order[:k], order[-k:]
    rng = np.random.default_rng(seed)
    idx = {}
    for name, sel in (("pos", pos.numpy()), ("neg", neg.numpy())):
        sel = rng.permutation(sel)
        cut = max(int(len(sel) * split), 1)
        idx[name] = (sel[:cut], sel[cut:])
    x = codes.double().numpy()
    xtr = np.concatenate([x[idx["pos"][0]], x[idx["neg"][0]]])
    ytr = np.concatenate([np.ones(len(idx["pos"][0])), np.zeros(len(idx["neg"][0]))])
    svm = LinearSVC(C=c, max_iter=20_000, random_state=seed).fit(xtr, ytr)
    w = svm.coef_.reshape(-1)
    norm = float(np.linalg.norm(w))
    normal = torch.from_numpy(w / norm).float()
    offset = float(svm.intercept_[0] / norm)
    stats = {"train_accuracy": float(svm.score(xtr, ytr)), "n_train": int(len(ytr))}
    if len(idx["pos"][1]) and len(idx["neg"][1]):
        xv = np.concatenate([x[idx["pos"][1]], x[idx["neg"][1]]])
        yv = np.concatenate([np.ones(len(idx["pos"][1])), np.zeros(len(idx["neg"][1]))])
        stats["val_accuracy"] = float(svm.score(xv, yv))
    return normal, offset, stats


def project_boundary(primal: torch.Tensor, *conditions: torch.Tensor) -> torch.Tensor:
    """Conditional direction: remove from ``primal`` (D,) its components along any number of condition
    normals (each (D,)), renormalised. Editing along the result leaves the conditions' distances unchanged."""
    if not conditions:
        return primal / primal.norm()
    c = torch.stack([t.double() for t in conditions])                   # (K, D)
    p = primal.double()
    coeffs = torch.linalg.lstsq(c @ c.T, (c @ p).unsqueeze(1)).solution  # (K, 1): (C C^T) x = C p
    out = p - (coeffs.T @ c).squeeze(0)
    norm = out.norm()
    if norm < 1e-8:
        raise ValueError("the primal direction lies in the span of the conditions; nothing is left to edit")
    return (out / norm).to(primal.dtype)


def signed_distance(codes: torch.Tensor, normal: torch.Tensor, offset: float) -> torch.Tensor:
    """(N, D) -> (N,) distance to the hyperplane, positive on the attribute's side."""
    return codes @ normal + offset


def move_to_distance(codes: torch.Tensor, normal: torch.Tensor, offset: float, target: torch.Tensor) -> torch.Tensor:
    """Move each code along ``normal`` so that its signed distance becomes ``target`` (N,). codes: (N, D)."""
    return codes + (target - signed_distance(codes, normal, offset)).unsqueeze(1) * normal
