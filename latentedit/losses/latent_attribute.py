"""Latent attribute loss: a frozen *linear* classifier on W judges the edited latent against the target labels.

An image classifier can be satisfied by a pixel pattern it happens to read as the attribute (the mapper learns
to fool that one judge). A linear probe on W cannot be fooled that way: the only way to raise its logit is to move
the latent across the attribute's boundary (InterFaceGAN's observation that attributes are roughly linear in W).
The probe is fitted once, on the generator's own samples labelled by the image classifier
(``latentedit.training.latent_probe``), so it adds no new judge, only a second view of the same one.

- ``probe_logits(w_plus, weight, bias)``: (B, num_ws, w_dim) -> (B, n_attr), the probe applied to the mean code
  over layers (linear, so the mean of the per-layer logits); ``per_layer=True``: (B, num_ws, n_attr), one reading
  per W+ layer.
- ``latent_attribute_loss``: BCE of those logits against targets; attributes the target keeps get the probe's own
  probability on the source latent, so keeping them means staying put, not being pushed to 0 or 1. Per layer by
  default: on the mean code a W+ mapper satisfies the probe by moving layers that barely change the image
  (measured on the toy ISF: 6% target success with the mean-code probe alone), so every layer must cross.
- ``fit_linear_probe``: logistic regression (scikit-learn) on raw W, its logit rescaled to spreads.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _check_probe(weight: torch.Tensor, bias: torch.Tensor) -> None:
    if weight.ndim != 2 or bias.shape != (weight.shape[0],):
        raise ValueError(f"latent probe: weight must be (n_attr, w_dim) and bias (n_attr,); got "
                         f"{tuple(weight.shape)} and {tuple(bias.shape)}")


def probe_logits(w_plus: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, *,
                 per_layer: bool = False) -> torch.Tensor:
    """Logits of the linear probe ``weight`` (n_attr, w_dim), ``bias`` (n_attr,): on ``w`` (B, w_dim) -> (B, n_attr);
    on ``w_plus`` (B, num_ws, w_dim) -> (B, n_attr) of the mean code over layers, or (B, num_ws, n_attr) with
    ``per_layer``."""
    _check_probe(weight, bias)
    d = weight.shape[1]
    if w_plus.ndim not in (2, 3) or w_plus.shape[-1] != d:
        raise ValueError(f"latent probe: expected latents (B, num_ws, {d}) or (B, {d}); got {tuple(w_plus.shape)}")
    w = w_plus.mean(1) if w_plus.ndim == 3 and not per_layer else w_plus
    return w @ weight.to(w.dtype).t() + bias.to(w.dtype)


def latent_attribute_loss(w_edit: torch.Tensor, w_src: torch.Tensor, target: torch.Tensor, source: torch.Tensor,
                          weight: torch.Tensor, bias: torch.Tensor, *, per_layer: bool = True) -> torch.Tensor:
    """Mean BCE of the probe's logits on ``w_edit`` (B, num_ws, w_dim) against ``target`` (B, n_attr) where it differs
    from ``source`` (B, n_attr) and against the probe's own (detached) probability on ``w_src`` where it does not;
    ``per_layer``: every W+ layer is read (and held or pushed) on its own, else the mean code."""
    logits = probe_logits(w_edit, weight, bias, per_layer=per_layer)
    n = logits.shape[-1]
    if target.shape != (logits.shape[0], n) or source.shape != target.shape:
        raise ValueError(f"latent_attribute_loss: target and source must be ({logits.shape[0]}, {n}); got "
                         f"{tuple(target.shape)} and {tuple(source.shape)}")
    with torch.no_grad():
        keep = probe_logits(w_src, weight, bias, per_layer=per_layer).sigmoid()
    if logits.ndim == 3:
        target, source = target[:, None, :], source[:, None, :]
    goal = torch.where(target == source, keep, target.to(logits.dtype).expand_as(logits))
    return F.binary_cross_entropy_with_logits(logits, goal)


def fit_linear_probe(w: np.ndarray, labels: np.ndarray, *, c: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logistic regression per attribute on raw W, rescaled so that a logit is a signed distance in spreads.

    w (N, w_dim), labels (N, n_attr) in {0, 1} -> (weight (n_attr, w_dim), bias (n_attr,), training accuracy
    (n_attr,)), float64. Raw W, not standardised: the L2 penalty then favours W's high-variance directions, which
    the generator renders visibly; on standardised W the fit leans on low-variance directions that predict the
    label but barely change the image (measured on the toy generator: cosine 0.19-0.86 with InterFaceGAN's
    boundaries against 0.81-0.96 on raw W), and a mapper crosses such a boundary invisibly. Logit 1 = one standard
    deviation of the samples' signed distance to the boundary, so the loss is satisfied about three spreads past
    it (BCE 0.05 at logit 3), like a full InterFaceGAN edit, whatever the scale of W. An attribute whose labels
    are all equal gets a zero weight and a bias that predicts that label."""
    from sklearn.linear_model import LogisticRegression

    w = np.asarray(w, dtype=np.float64)
    labels = np.asarray(labels)
    if w.ndim != 2 or labels.ndim != 2 or labels.shape[0] != w.shape[0]:
        raise ValueError(f"fit_linear_probe: expected w (N, w_dim) and labels (N, n_attr); got {w.shape} and "
                         f"{labels.shape}")
    weight = np.zeros((labels.shape[1], w.shape[1]))
    bias = np.zeros(labels.shape[1])
    acc = np.ones(labels.shape[1])
    for a in range(labels.shape[1]):
        y = labels[:, a] > 0.5
        if y.all() or not y.any():
            bias[a] = 8.0 if y.all() else -8.0
            continue
        clf = LogisticRegression(C=c, max_iter=5000).fit(w, y)
        acc[a] = clf.score(w, y)
        norm = float(np.linalg.norm(clf.coef_[0]))
        dist = (w @ clf.coef_[0] + clf.intercept_[0]) / norm          # signed distance (N,)
        spread = float(dist.std()) + 1e-12
        weight[a] = clf.coef_[0] / norm / spread
        bias[a] = clf.intercept_[0] / norm / spread
    return weight, bias, acc


class LatentAttributeLoss(nn.Module):
    """``weight * latent_attribute_loss(...)`` with a frozen probe (buffers ``probe_weight`` (n_attr, w_dim) and
    ``probe_bias`` (n_attr,))."""

    def __init__(self, probe_weight: torch.Tensor, probe_bias: torch.Tensor, *, weight: float = 1.0,
                 per_layer: bool = True):
        super().__init__()
        probe_weight = torch.as_tensor(probe_weight, dtype=torch.float32)
        probe_bias = torch.as_tensor(probe_bias, dtype=torch.float32)
        _check_probe(probe_weight, probe_bias)
        self.register_buffer("probe_weight", probe_weight)
        self.register_buffer("probe_bias", probe_bias)
        self.weight = float(weight)
        self.per_layer = bool(per_layer)

    def forward(self, w_edit: torch.Tensor, w_src: torch.Tensor, target: torch.Tensor,
                source: torch.Tensor) -> torch.Tensor:
        return self.weight * latent_attribute_loss(w_edit, w_src, target, source, self.probe_weight, self.probe_bias,
                                                   per_layer=self.per_layer)
