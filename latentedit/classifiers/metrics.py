"""Per-attribute figures of a multi-label classifier: balanced accuracy, ROC-AUC, positive-class weights."""

from __future__ import annotations

import math

import torch


def balanced_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """(N, A) logits (> 0: present) and 0/1 labels -> per attribute (TPR + TNR) / 2; an attribute with only one
    class in ``labels`` gets the accuracy of that class."""
    pred, y = logits > 0, labels > 0.5
    out = []
    for a in range(y.shape[1]):
        rates = [float((pred[y[:, a] == cls, a] == cls).float().mean()) for cls in (True, False)
                 if bool((y[:, a] == cls).any())]
        out.append(sum(rates) / len(rates) if rates else math.nan)
    return out


def roc_auc(logits: torch.Tensor, labels: torch.Tensor) -> list[float | None]:
    """Per attribute ROC-AUC (scikit-learn); None where the labels hold a single class."""
    from sklearn.metrics import roc_auc_score

    y = (labels > 0.5).numpy()
    s = logits.detach().double().numpy()
    return [float(roc_auc_score(y[:, a], s[:, a])) if 0 < y[:, a].sum() < len(y) else None
            for a in range(y.shape[1])]


def positive_weights(labels: torch.Tensor, *, max_weight: float = 100.0) -> torch.Tensor:
    """(A,) BCE ``pos_weight`` = negatives / positives per attribute (rare attributes weigh more), within
    [1/max_weight, max_weight]."""
    pos = (labels > 0.5).float().sum(0)
    neg = labels.shape[0] - pos
    return (neg / pos.clamp_min(1)).clamp(1 / max_weight, max_weight)


def attribute_report(logits: torch.Tensor, labels: torch.Tensor, attributes) -> dict:
    """{attribute: {balanced_accuracy, roc_auc, positives, n}} on held-out predictions."""
    bal, auc = balanced_accuracy(logits, labels), roc_auc(logits, labels)
    pos = (labels > 0.5).sum(0).tolist()
    return {a: {"balanced_accuracy": bal[i], "roc_auc": auc[i], "positives": int(pos[i]), "n": int(labels.shape[0])}
            for i, a in enumerate(attributes)}
