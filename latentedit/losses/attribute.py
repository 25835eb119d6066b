"""Attribute-classification loss: a frozen multi-label classifier judges edited images against target labels.

``attribute_loss`` is binary cross-entropy with logits, optionally with ``pos_weight`` (ISF-GAN reweights rare
attributes, e.g. glasses 5.3, age 6.7) and a ``mask`` that keeps only some terms (e.g. the attributes an edit
asked to change).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from latentedit.losses.pretrained import freeze


#: which terms the attribute margin applies to: every term, or only the attributes an edit changes
MARGIN_ON = ("all", "changed")


def _shape(t) -> str:
    return str(tuple(t.shape)) if isinstance(t, torch.Tensor) else type(t).__name__


def random_shift_flip(images: torch.Tensor, max_shift: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image (B, 3, H, W) shifted by its own random integer offset in [-max_shift, max_shift] on both axes
    (replicate padding) and mirrored left-right with probability 1/2. Differentiable in the images; the judge then
    sees the edit from slightly different places, so a change that only one exact pixel layout reads as the
    attribute (an adversarial pattern for that judge) counts less than the attribute itself."""
    if max_shift <= 0:
        return images
    b, _, h, w = images.shape
    pad = F.pad(images, (max_shift,) * 4, mode="replicate")
    off = torch.randint(0, 2 * max_shift + 1, (b, 2), generator=generator).to(images.device)
    rows = (off[:, :1] + torch.arange(h, device=images.device))[:, :, None]     # (b, h, 1)
    cols = (off[:, 1:] + torch.arange(w, device=images.device))[:, None, :]     # (b, 1, w)
    batch = torch.arange(b, device=images.device)[:, None, None]
    out = pad.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)      # (b, h, w, C) -> (b, C, h, w)
    flip = torch.rand(b, generator=generator) < 0.5
    return torch.where(flip.view(b, 1, 1, 1).to(out.device), out.flip(-1), out)


def attribute_loss(logits: torch.Tensor, target: torch.Tensor, *, pos_weight: torch.Tensor | None = None,
                   mask: torch.Tensor | None = None, margin: float | torch.Tensor = 0.0) -> torch.Tensor:
    """Mean BCE-with-logits over the kept terms.

    logits (B, n_attr); target (B, n_attr) in [0, 1]; pos_weight (n_attr,) > 0 multiplies the positive term;
    mask (B, n_attr) or (n_attr,) of 0/1 keeps terms (the mean is over kept terms; 0 if none is kept).
    ``margin`` >= 0 judges ``logits - margin * (2 target - 1)``: a hard target of 1 is only met once the logit is
    well past ``margin`` (as clear as the classifier's natural positives), not merely past 0, where plain BCE's
    gradient has already faded (an edit that stops at logit ~4 is a half-done edit to another reader). A tensor
    margin (B, n_attr) or (n_attr,) sets it per term (e.g. only on the attributes an edit changes).
    """
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        raise ValueError(f"attribute_loss: logits must be (B, n_attr); got {_shape(logits)}")
    if not isinstance(target, torch.Tensor) or target.shape != logits.shape:
        raise ValueError(f"attribute_loss: target must be {tuple(logits.shape)} like the logits; got {_shape(target)}")
    target = target.to(logits.dtype)
    if isinstance(margin, torch.Tensor):
        margin = margin.to(logits.dtype)
        if margin.shape not in (logits.shape, logits.shape[1:]) or not bool((margin >= 0).all()):
            raise ValueError(f"attribute_loss: a margin tensor must be {tuple(logits.shape)} or ({logits.shape[1]},) "
                             f"of numbers >= 0; got {tuple(margin.shape)}")
    elif not margin >= 0.0:
        raise ValueError(f"attribute_loss: margin must be a number >= 0; got {margin!r}")
    if isinstance(margin, torch.Tensor) or margin:
        logits = logits - margin * (2.0 * target - 1.0)
    if pos_weight is not None:
        pos_weight = torch.as_tensor(pos_weight, dtype=logits.dtype, device=logits.device)
        if pos_weight.shape != (logits.shape[1],):
            raise ValueError(f"attribute_loss: pos_weight must be ({logits.shape[1]},); got {tuple(pos_weight.shape)}")
    terms = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight, reduction="none")
    if mask is None:
        return terms.mean()
    mask = torch.as_tensor(mask, dtype=logits.dtype, device=logits.device)
    if mask.shape not in (logits.shape, logits.shape[1:]):
        raise ValueError(f"attribute_loss: mask must be {tuple(logits.shape)} or ({logits.shape[1]},); "
                         f"got {tuple(mask.shape)}")
    mask = mask.expand_as(terms)
    return (terms * mask).sum() / mask.sum().clamp_min(1.0)


def intensity_loss(logits: torch.Tensor, reference_logits: torch.Tensor, mask: torch.Tensor, *,
                   beta: float = 1.0) -> torch.Tensor:
    """Mean Huber distance (``beta``: where it turns from quadratic to linear; 0 = L1) between an edit's readings
    and a reference's, over the kept terms.

    logits, reference_logits (B, n_attr): the classifier's logits (beta 1), or intensities in [0, 1] read by a
    regressor (beta 0); mask (B, n_attr) of 0/1 or bool. 0 when nothing is kept. A reference whose glasses read
    faint asks for glasses as faint as its own, not for the clearest glasses the judge knows: the attribute's
    intensity transfers with its label.
    """
    if logits.shape != reference_logits.shape or mask.shape != logits.shape:
        raise ValueError(f"intensity_loss: logits, reference_logits and mask must share one shape (B, n_attr); got "
                         f"{_shape(logits)}, {_shape(reference_logits)} and {_shape(mask)}")
    mask = mask.to(logits.dtype)
    if not beta >= 0.0:
        raise ValueError(f"intensity_loss: beta must be a number >= 0; got {beta!r}")
    terms = F.smooth_l1_loss(logits, reference_logits.to(logits.dtype).detach(), beta=float(beta), reduction="none")
    return (terms * mask).sum() / mask.sum().clamp_min(1.0)


class AttributeLoss(nn.Module):
    """``weight * attribute_loss(classifier(images), target)`` with a frozen classifier.

    ``classifier``: ``(B, 3, H, W)`` in [-1, 1] -> logits ``(B, n_attr)``, columns in ``attribute_names`` order.
    ``pos_weight``: a sequence of ``n_attr`` positive weights, or None.
    """

    def __init__(self, classifier: nn.Module, *, weight: float = 1.0, pos_weight: Sequence[float] | None = None,
                 freeze_classifier: bool = True, augment_shift: int = 0, margin: float = 0.0,
                 margin_on: str = "all"):
        super().__init__()
        if not isinstance(classifier, nn.Module):
            raise TypeError(f"AttributeLoss needs an nn.Module classifier; got {type(classifier).__name__}")
        self.classifier = freeze(classifier) if freeze_classifier else classifier
        self.frozen = freeze_classifier
        self.weight = float(weight)
        self.augment_shift = int(augment_shift)
        self.margin = float(margin)
        if margin_on not in MARGIN_ON:
            raise ValueError(f"AttributeLoss: margin_on must be one of {MARGIN_ON}; got {margin_on!r}")
        self.margin_on = margin_on
        pw = None
        if pos_weight is not None:
            pw = torch.as_tensor(list(pos_weight), dtype=torch.float32)
            if pw.ndim != 1 or not bool((pw > 0).all()):
                raise ValueError(f"AttributeLoss: pos_weight must be a list of positive numbers; "
                                 f"got {list(pos_weight)}")
        self.register_buffer("pos_weight", pw, persistent=False)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.classifier.eval()
        return self

    def judge(self, images: torch.Tensor) -> torch.Tensor:
        """The classifier's logits (B, n_attr) on images (B, 3, H, W), through the loss's augmentation."""
        return self.classifier(random_shift_flip(images, self.augment_shift))

    def forward(self, images: torch.Tensor | None, target: torch.Tensor, *, mask: torch.Tensor | None = None,
                changed: torch.Tensor | None = None, logits: torch.Tensor | None = None,
                no_margin: torch.Tensor | None = None) -> torch.Tensor:
        """images (B, 3, H, W); target (B, n_attr) in [0, 1] -> scalar. ``changed`` (B, n_attr) bool: the terms
        an edit changes; with ``margin_on='changed'`` the margin applies only to them (to every term when not given).
        ``logits``: the ``judge`` logits of the images, when the caller has them already (images may then be None).
        ``no_margin`` (B, n_attr) bool: terms judged without the margin (another loss sets how far they go, e.g.
        ``reference_intensity``)."""
        margin = self.margin
        if margin and self.margin_on == "changed" and changed is not None:
            margin = margin * changed.to(target.dtype)
        if no_margin is not None and (isinstance(margin, torch.Tensor) or margin):
            margin = margin * (~no_margin).to(target.dtype)
        if logits is None:
            if images is None:
                raise ValueError("AttributeLoss: give the images to judge, or their logits (logits=)")
            logits = self.judge(images)
        if self.pos_weight is not None and logits.ndim == 2 and logits.shape[1] != self.pos_weight.numel():
            raise ValueError(f"AttributeLoss: the classifier gives {logits.shape[1]} logits but pos_weight has "
                             f"{self.pos_weight.numel()} entries")
        return self.weight * attribute_loss(logits, target, pos_weight=self.pos_weight, mask=mask,
                                            margin=margin)
