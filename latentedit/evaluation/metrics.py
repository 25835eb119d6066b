"""Edit metrics that need no ground truth: what a classifier, an identity embedder and LPIPS read on images.

Every function takes images ``(B, 3, H, W)`` in [-1, 1] (edited ``x``, source ``x_src``) and returns per-image
values ``(B,)`` so a caller can average over any set. A classifier returns logits ``(B, n_attr)`` (> 0: the
attribute is present); an embedder returns ``(B, E)`` embeddings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def target_hit(logits: torch.Tensor, col: int, wanted: torch.Tensor) -> torch.Tensor:
    """(B,) 1.0 where the classifier reads column ``col`` as ``wanted`` ((B,) bool) on the edited image."""
    return ((logits[:, col] > 0) == wanted).float()


def others_kept(logits: torch.Tensor, logits_src: torch.Tensor, cols: list[int]) -> torch.Tensor:
    """(B,) share of the columns ``cols`` whose label (logit > 0) is the same on edited and source images
    (1.0 when ``cols`` is empty: nothing to keep)."""
    if not cols:
        return logits.new_ones(logits.shape[0])
    return ((logits[:, cols] > 0) == (logits_src[:, cols] > 0)).float().mean(1)


def identity_cosine(emb: torch.Tensor, emb_src: torch.Tensor) -> torch.Tensor:
    """(B,) cosine between the identity embeddings of edited and source images."""
    return F.cosine_similarity(emb.flatten(1).float(), emb_src.flatten(1).float(), dim=1)


def image_distance(x: torch.Tensor, y: torch.Tensor, lpips_model=None) -> torch.Tensor:
    """(B,) LPIPS between ``x`` and ``y`` with ``lpips_model``, else the mean absolute pixel difference / 2
    (in [0, 1])."""
    if lpips_model is not None:
        return lpips_model(x, y).reshape(-1)
    return (x - y).abs().mean(dim=(1, 2, 3)) / 2


def pairwise_distance(images: torch.Tensor, lpips_model=None) -> torch.Tensor:
    """images (K, B, 3, H, W) -> (B,) mean ``image_distance`` over the K(K-1)/2 pairs of draws (0 when K < 2)."""
    k = images.shape[0]
    total = images.new_zeros(images.shape[1])
    if k < 2:
        return total
    for i in range(k):
        for j in range(i + 1, k):
            total += image_distance(images[i], images[j], lpips_model)
    return total / (k * (k - 1) / 2)


def classifier_features(classifier, x: torch.Tensor) -> tuple[torch.Tensor, str]:
    """(features (B, F), kind): the classifier's penultimate features ("penultimate", its ``features``), else its
    logits ("logits") when it has no known penultimate layer."""
    fn = getattr(classifier, "features", None)
    if fn is None and hasattr(classifier, "classifier"):  # a column view of a wider classifier
        fn = getattr(classifier.classifier, "features", None)
    if fn is not None:
        try:
            return fn(x).flatten(1), "penultimate"
        except ValueError:  # a wrapped module without a known penultimate layer
            pass
    return classifier(x).flatten(1), "logits"
