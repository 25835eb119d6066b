"""Losses of the toy-faces generator recipe (``distill_toyfaces``): the weighted multi-scale pixel loss and
the teacher's factor-reading loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F



def distill_loss(fake: torch.Tensor, real: torch.Tensor, weight_map: torch.Tensor, cfg,
                 weighted_gradient: bool = False) -> torch.Tensor:
    """Weighted multi-scale L1 + image-gradient L1 (weighted by the same map when ``weighted_gradient``).
    fake/real: (B, 3, R, R); weight_map: (B, 1, R, R), >= 0; cfg: a DistillConfig (attr_weight, grad_weight)."""
    w = 1 + cfg.attr_weight * weight_map
    loss = (w * (fake - real).abs()).mean()
    f, r, wm = fake, real, w
    for _ in range(2):
        f, r, wm = F.avg_pool2d(f, 2), F.avg_pool2d(r, 2), F.avg_pool2d(wm, 2)
        loss = loss + (wm * (f - r).abs()).mean()
    for dim in (2, 3):
        gf, gr = fake.diff(dim=dim), real.diff(dim=dim)
        gw = w.narrow(dim, 1, w.shape[dim] - 1) if weighted_gradient else 1.0
        loss = loss + cfg.grad_weight * (gw * (gf - gr).abs()).mean()
    return loss


def load_teacher(path) -> torch.nn.Module:
    """A toy-faces judge file of kind ``factors`` or ``attributes`` as a frozen teacher (eval mode; ModelFileError, a
    ValueError, for any other file)."""
    from latentedit_toyfaces.judges import load_judge_file

    return load_judge_file(path, names=("factors", "attributes"))


def teacher_reading(teacher: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What ``teacher`` reads in images x (B, 3, R, R): factors in [0, 1] (B, 21), or attribute probabilities (B, 5)."""
    out = teacher(x)
    return torch.sigmoid(out) if teacher.config.name == "attributes" else out


def teacher_loss(teacher: torch.nn.Module, fake: torch.Tensor, real: torch.Tensor,
                 attribute_weight: float = 4.0) -> torch.Tensor:
    """A frozen judge (``teacher``: a factor estimator or an attribute classifier, see ``teacher_reading``) must
    read in ``fake`` what it reads in its target ``real``: weighted mean |T(fake) - T(real)| over the batch and the
    columns; a factor estimator's attribute columns are weighted ``attribute_weight`` times.

    Pixel L1 counts a thin mouth curve by its few pixels, so a soft mouth costs little; the teacher reads the
    smile from those pixels, so a mouth it cannot read costs as much as a wrong hair colour. Targets are the
    teacher's own reading of the render (not the true factors), so its estimation error is not charged to G.
    Teachers must not be the evaluation judges: they are trained with other seeds, and several of them (an
    estimator and a classifier) leave less room for patterns that only one network reads.
    """
    from latentedit_toyfaces.factors import ATTRIBUTE_INDEX, NUM_FACTORS

    with torch.no_grad():
        target = teacher_reading(teacher, real)  # (B, C)
    weights = torch.ones(target.shape[1], device=fake.device)
    if target.shape[1] == NUM_FACTORS:
        weights[list(ATTRIBUTE_INDEX)] = attribute_weight
    return ((teacher_reading(teacher, fake) - target).abs() * weights).sum(dim=1).mean() / weights.sum()
