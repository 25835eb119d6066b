"""The toy-faces domain: a procedural face renderer with ground-truth factors, datasets, and judges.

* ``factors``  — the factor vector (identity / attributes / nuisance), its prior, edits of a person.
* ``renderer`` — ``render(factors, resolution=64) -> (B, 3, H, W)`` in [-1, 1], batched pure torch.
* ``datasets`` — streaming in-memory batches for training, and the on-disk dataset format.
* ``judges``   — the shipped attribute classifier, identity embedder and factor estimator (``load_judge``).
* ``training`` — recipes that train the judges; ``evaluation`` — their held-out figures.
"""

from latentedit_toyfaces.factors import (ATTRIBUTE_NAMES, FACTOR_NAMES, IDENTITY_FACTORS, NUISANCE_FACTORS,
                                         NUM_FACTORS, attribute_intensities, attribute_labels,
                                         factors_from_gaussian, resample_nuisance, sample_factors,
                                         with_attributes, with_nuisance)
from latentedit_toyfaces.renderer import render

__all__ = ["ATTRIBUTE_NAMES", "FACTOR_NAMES", "IDENTITY_FACTORS", "NUISANCE_FACTORS", "NUM_FACTORS",
           "attribute_intensities", "attribute_labels", "factors_from_gaussian", "resample_nuisance",
           "sample_factors", "with_attributes", "with_nuisance", "render"]
