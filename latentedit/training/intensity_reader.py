"""An attribute-intensity reader for the ``reference_intensity`` loss (``trainer.intensity_judge``).

The attribute classifier is trained on labels (intensity > 0.5): its logit says how sure it is, not how strong the
attribute is, and it saturates (toy Sensorium run K: matching the reference's logits made transfers *less* faithful).
A judge that reads the intensity itself — a toy-faces factor estimator, whose attribute columns are the renderer's
intensities in [0, 1] — can say "the reference's glasses are faint, make them faint".

The reader must not be an evaluation judge: the toy configs use the generator's teacher estimator
(``plugins/latentedit_toyfaces/assets/judge_factors_seed101.safetensors``, trained with another seed than the judges of
``latentedit toyfaces evaluate``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn


class IntensityReader(nn.Module):
    """Frozen judge -> intensities (B, n_attr) in [0, 1] of ``attribute_names``, in that column order.

    ``judge``: images (B, 3, H, W) in [-1, 1] -> (B, C), with ``output_names`` (C names) and ``config.name``:
    ``factors`` (outputs already in [0, 1]) or ``attributes`` (logits: the sigmoid is taken).
    """

    def __init__(self, judge: nn.Module, attribute_names: Sequence[str]):
        super().__init__()
        names = tuple(getattr(judge, "output_names", ()) or ())
        missing = [a for a in attribute_names if a not in names]
        if missing:
            raise ValueError(f"the intensity judge reads {list(names)}; it has no column for {missing}: give a judge "
                             "that reads every trained attribute (a toy-faces 'factors' or 'attributes' file)")
        self.kind = getattr(getattr(judge, "config", None), "name", "factors")
        self.judge = judge.eval().requires_grad_(False)
        self.register_buffer("columns", torch.tensor([names.index(a) for a in attribute_names]), persistent=False)

    def train(self, mode: bool = True):
        super().train(mode)
        self.judge.eval()  # frozen: batch statistics never move
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) -> (B, n_attr) in [0, 1]; differentiable w.r.t. the images."""
        out = self.judge(images)[:, self.columns]
        return torch.sigmoid(out) if self.kind == "attributes" else out


def load_intensity_reader(path: str | Path, attribute_names: Sequence[str]) -> IntensityReader:
    """The reader of a factor-estimator or attribute-classifier file, read by the reader its domain declares
    (``latentedit.domains.load_domain_model``; the toy-faces ``factors``/``attributes`` judges)."""
    from latentedit.domains import DomainError, load_domain_model
    from latentedit.io.modelfile import read_model_metadata

    kind = read_model_metadata(path)[0]
    try:
        judge = load_domain_model(path, "estimator")
    except DomainError:
        try:
            judge = load_domain_model(path, "classifier")
        except DomainError:
            raise DomainError(f"{path}: no installed domain reads '{kind}' files as its factor estimator or "
                              "attribute classifier") from None
    return IntensityReader(judge, attribute_names)
