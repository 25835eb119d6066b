"""Losses for training latent mappers: each a function first, then a thin ``nn.Module`` carrying its weight.

| name (LOSS_NAMES) | function                                   | module                     |
|-------------------|--------------------------------------------|----------------------------|
| attribute         | ``attribute_loss(logits, target)``         | ``AttributeLoss(clf)``     |
| lpips             | ``lpips_loss(x, y, model)``                | ``LPIPSLoss(net)``         |
| identity          | ``identity_loss(e_edit, e_src)``           | ``IdentityLoss(embedder)`` |
| latent_l2         | ``latent_l2_loss(w', w)``                  | ``LatentL2Loss()``         |
| neighbourhood     | ``neighbourhood_loss(w', w)``              | ``NeighbourhoodLoss()``    |
| latent/image_cycle| ``latent_cycle_loss``, ``image_cycle_loss``| ``CycleLoss()``            |
| diversity         | ``diversity_sensitive_loss(a, b)``         | ``DiversityLoss()``        |
| latent_attribute  | ``latent_attribute_loss(w', w, t, s, W, b)``| ``LatentAttributeLoss(W, b)``|
| reference_intensity | ``intensity_loss(logits, ref_logits, mask)`` | (trainer, with ``attribute``'s classifier) |
| adversarial, r1   | ``generator_adversarial_loss``, ``r1_penalty`` | (trainer)              |

``build_loss_modules(weights, LossSettings(...), classifier=, embedder=)`` builds the active ones from a config.
Pretrained judges (LPIPS backbone, facenet) are read from local files only; ``MissingWeightsError`` says which file
goes where. Importing this package does not import ``lpips`` or ``facenet_pytorch``.
"""

from latentedit.losses.adversarial import discriminator_adversarial_loss, generator_adversarial_loss, r1_penalty
from latentedit.losses.attribute import AttributeLoss, attribute_loss, intensity_loss
from latentedit.losses.cycle import CycleLoss, edit_and_back, image_cycle_loss, latent_cycle_loss
from latentedit.losses.diversity import DiversityLoss, diversity_distance, diversity_sensitive_loss, linear_decay
from latentedit.losses.factory import TRAINER_LOSSES, LossSettings, build_loss_modules
from latentedit.losses.identity import FaceNetEmbedder, IdentityLoss, facenet_weights_path, identity_loss
from latentedit.losses.latent import LatentL2Loss, NeighbourhoodLoss, latent_l2_loss, neighbourhood_loss
from latentedit.losses.latent_attribute import (
    LatentAttributeLoss,
    fit_linear_probe,
    latent_attribute_loss,
    probe_logits,
)
from latentedit.losses.perceptual import LPIPSLoss, build_lpips, lpips_loss
from latentedit.losses.pretrained import MissingWeightsError
from latentedit.losses.weights import (
    LOSS_NAMES,
    LossWeightError,
    NonFiniteLossError,
    active_losses,
    resolve_loss_weights,
    sum_losses,
)

__all__ = [
    "AttributeLoss", "CycleLoss", "DiversityLoss", "FaceNetEmbedder", "IdentityLoss", "LOSS_NAMES", "LPIPSLoss",
    "LatentAttributeLoss", "LatentL2Loss", "LossSettings", "LossWeightError", "MissingWeightsError",
    "NeighbourhoodLoss", "NonFiniteLossError", "TRAINER_LOSSES", "active_losses", "attribute_loss",
    "build_loss_modules", "build_lpips", "discriminator_adversarial_loss", "diversity_distance",
    "diversity_sensitive_loss", "edit_and_back", "facenet_weights_path", "fit_linear_probe",
    "generator_adversarial_loss", "identity_loss", "image_cycle_loss", "intensity_loss", "latent_attribute_loss", "latent_cycle_loss",
    "latent_l2_loss", "linear_decay", "lpips_loss", "neighbourhood_loss", "probe_logits", "r1_penalty",
    "resolve_loss_weights", "sum_losses",
]
