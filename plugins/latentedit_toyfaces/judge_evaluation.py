"""Held-out figures of the judges, and the metric helpers behind them (pure torch).

Held-out renders come from the ``HELD_OUT_SEED`` stream, which training never draws from.

* attributes: accuracy per attribute of ``logit > 0`` against ``intensity > 0.5``;
* identity: verification ROC-AUC — cosine similarity of two views of the same person (fresh attributes and
  nuisance) versus two different persons (every off-diagonal pair);
* factors: R² per factor, ``1 - SS_res / SS_tot``.
"""

from __future__ import annotations

import torch

from latentedit_toyfaces.datasets import HELD_OUT_SEED, person_views
from latentedit_toyfaces.factors import ATTRIBUTE_NAMES, FACTOR_NAMES, attribute_labels, sample_factors
from latentedit_toyfaces.renderer import render

#: The issue's bars.
BARS = {"attributes": 0.98, "identity": 0.99, "factors": 0.9}


def roc_auc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """Area under the ROC curve of ``scores`` (N,) for bool ``positive`` (N,) (Mann–Whitney, ties count ½)."""
    scores, positive = scores.flatten().double(), positive.flatten().bool()
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"roc_auc needs both classes; got {n_pos} positives and {n_neg} negatives")
    order = torch.argsort(scores)
    s = scores[order]
    ranks = torch.empty_like(s)
    ranks[order] = torch.arange(1, len(s) + 1, dtype=s.dtype)
    # average ranks over ties
    uniq, inverse, counts = torch.unique(s, return_inverse=True, return_counts=True)
    if len(uniq) < len(s):
        sums = torch.zeros(len(uniq), dtype=s.dtype).index_add_(0, inverse, torch.arange(1, len(s) + 1,
                                                                                          dtype=s.dtype))
        ranks[order] = (sums / counts)[inverse]
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def r2_scores(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """R² per column of ``pred`` vs ``target`` (N, K) → (K,)."""
    pred, target = pred.double(), target.double()
    ss_res = (pred - target).square().sum(0)
    ss_tot = (target - target.mean(0)).square().sum(0).clamp(min=1e-12)
    return (1 - ss_res / ss_tot).float()


def _batched(model, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(images[i:i + batch]) for i in range(0, len(images), batch)])


def eval_attributes(model, n: int = 2000, seed: int = HELD_OUT_SEED, resolution: int = 64) -> dict:
    """``{"accuracy": {attr: acc}, "min": worst accuracy, "n": n}`` on ``n`` held-out renders."""
    f = sample_factors(n, seed)
    pred = _batched(model, render(f, resolution)) > 0
    acc = (pred == attribute_labels(f)).float().mean(0)
    per = {name: round(float(a), 4) for name, a in zip(ATTRIBUTE_NAMES, acc)}
    return {"accuracy": per, "min": min(per.values()), "n": n}


def eval_identity(model, persons: int = 1000, seed: int = HELD_OUT_SEED, resolution: int = 64) -> dict:
    """``{"roc_auc", "persons", "pairs_pos", "pairs_neg"}``: same person (attributes and nuisance redrawn) vs not."""
    g = torch.Generator().manual_seed(seed + 1)
    fa = sample_factors(persons, g)
    fb = person_views(fa, g)
    ea, eb = _batched(model, render(fa, resolution)), _batched(model, render(fb, resolution))
    sim = ea @ eb.T
    positive = torch.eye(persons, dtype=torch.bool)
    auc = roc_auc(sim, positive)
    return {"roc_auc": round(auc, 5), "persons": persons, "pairs_pos": persons, "pairs_neg": persons * (persons - 1)}


def eval_factors(model, n: int = 2000, seed: int = HELD_OUT_SEED, resolution: int = 64) -> dict:
    """``{"r2": {factor: R²}, "min": worst R², "n": n}`` on ``n`` held-out renders."""
    f = sample_factors(n, seed + 2)
    r2 = r2_scores(_batched(model, render(f, resolution)), f)
    per = {name: round(float(v), 4) for name, v in zip(FACTOR_NAMES, r2)}
    return {"r2": per, "min": min(per.values()), "n": n}


def evaluate(name: str, model, n: int = 2000) -> dict:
    """Held-out figures of judge ``name`` (identity uses ``n // 2`` persons), plus ``"passes"`` against BARS."""
    if name == "attributes":
        out = eval_attributes(model, n)
        out["passes"] = out["min"] >= BARS[name]
    elif name == "identity":
        out = eval_identity(model, max(2, n // 2))
        out["passes"] = out["roc_auc"] >= BARS[name]
    elif name == "factors":
        out = eval_factors(model, n)
        out["passes"] = out["min"] >= BARS[name]
    else:
        raise ValueError(f"unknown judge {name!r}; expected attributes, identity or factors")
    return out
