"""Loss names, weights from config, and summing the weighted terms with a clear report of non-finite ones.

A trainable mapper declares ``default_loss_weights()`` over ``LOSS_NAMES``; the user's config may override any of
them (``resolve_loss_weights``); a weight of 0 switches a loss off (its network need not even be built).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping

import torch

#: name -> what it measures (and where the function lives)
LOSS_NAMES: dict[str, str] = {
    "attribute": "BCE of a frozen classifier on edited images vs target labels (losses.attribute)",
    "adversarial": "non-saturating GAN loss from a jointly trained discriminator (losses.adversarial)",
    "r1": "R1 gradient penalty on the discriminator's real inputs (losses.adversarial)",
    "lpips": "LPIPS between edited and source images (losses.perceptual)",
    "lpips_cycle": "LPIPS between round-trip and source images (losses.perceptual + losses.cycle)",
    "identity": "1 - cos of face/identity embeddings of edited vs source images (losses.identity)",
    "latent_l2": "mean squared distance of w_plus' to the source w_plus (losses.latent)",
    "neighbourhood": "||w_plus' - w_plus||_2 per sample, ISF-GAN (losses.latent)",
    "latent_cycle": "L1 of edit-and-back latents vs source latents (losses.cycle)",
    "image_cycle": "L1 of edit-and-back images vs source images (losses.cycle)",
    "diversity": "negative L1 between outputs for two noises, linearly decayed (losses.diversity)",
    "latent_attribute": "BCE of a linear probe on W (fitted to the classifier's labels) on edited latents vs target "
                        "labels (losses.latent_attribute)",
    "style_reconstruction": "L1 of the style encoded from the edited image vs the style it was edited with, on the "
                            "columns the edit used (StarGAN v2; style mappers with encode_style; "
                            "training.objective)",
    "reference_intensity": "Huber distance of the classifier's logits on the edit to its logits on the reference, "
                           "on the attributes the edit changes to the reference's label (style mappers with "
                           "encode_style; losses.attribute.intensity_loss, training.objective)",
}


class LossWeightError(ValueError):
    """Unknown loss name or invalid weight."""


class NonFiniteLossError(FloatingPointError):
    """A loss term is NaN or infinite; ``terms`` maps each offending name to its value."""

    def __init__(self, terms: Mapping[str, float]):
        self.terms = dict(terms)
        super().__init__("non-finite loss term(s): " + ", ".join(f"{k}={v}" for k, v in self.terms.items()))


def _check_name(name: str, *, source: str) -> None:
    if name not in LOSS_NAMES:
        close = difflib.get_close_matches(name, list(LOSS_NAMES), n=1)
        raise LossWeightError(f"{source}: unknown loss {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                              + f"; known losses: {', '.join(LOSS_NAMES)}")


def resolve_loss_weights(defaults: Mapping[str, float], overrides: Mapping[str, float] | None = None, *,
                         source: str = "loss weights") -> dict[str, float]:
    """``defaults`` updated by ``overrides``; names must be in LOSS_NAMES, weights finite and >= 0."""
    out: dict[str, float] = {}
    for where, mapping in (("defaults", defaults), ("overrides", overrides or {})):
        for name, w in mapping.items():
            _check_name(name, source=f"{source} ({where})")
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
                raise LossWeightError(f"{source} ({where}): weight of {name!r} must be a finite number >= 0; got {w!r}")
            out[name] = float(w)
    return out


def active_losses(weights: Mapping[str, float]) -> list[str]:
    """Names with a non-zero weight, in LOSS_NAMES order."""
    return [n for n in LOSS_NAMES if weights.get(n, 0.0) != 0.0]


def sum_losses(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float] | None = None):
    """``(total, log)``: the sum of ``weights[name] * term`` (weight 1 when ``weights`` is None; weight-0 terms are
    skipped) and a dict of the weighted float values for logging. Raises NonFiniteLossError naming the bad terms."""
    if not terms:
        raise ValueError("sum_losses: no loss terms given")
    total, log, bad = None, {}, {}
    for name, term in terms.items():
        w = 1.0 if weights is None else float(weights.get(name, 0.0))
        if w == 0.0:
            continue
        if not isinstance(term, torch.Tensor) or term.ndim != 0:
            raise ValueError(f"sum_losses: term {name!r} must be a scalar tensor; got "
                             f"{tuple(term.shape) if isinstance(term, torch.Tensor) else type(term).__name__}")
        value = w * term
        v = float(value.detach())
        log[name] = v
        if not math.isfinite(v):
            bad[name] = v
        total = value if total is None else total + value
    if bad:
        raise NonFiniteLossError(bad)
    if total is None:
        total = next(iter(terms.values())).new_zeros(())
    return total, log
