"""Build the loss modules a training run needs from its weights and settings (both from the config).

    weights = resolve_loss_weights(MyMapper.default_loss_weights(), cfg.loss_weights)
    losses = build_loss_modules(weights, LossSettings(lpips_net="alex"), classifier=judge, embedder=id_net)
    total, log = sum_losses({"attribute": losses["attribute"](img_edit, target), ...})

Only losses with a non-zero weight are built, so a run with ``lpips: 0`` never needs the LPIPS backbone.
``adversarial`` and ``r1`` need the jointly trained discriminator and stay with the trainer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from torch import nn

from latentedit.losses.attribute import MARGIN_ON, AttributeLoss
from latentedit.losses.cycle import CycleLoss
from latentedit.losses.diversity import DiversityLoss
from latentedit.losses.identity import IDENTITY_DISTANCES, IdentityLoss
from latentedit.losses.latent import LatentL2Loss, NeighbourhoodLoss
from latentedit.losses.latent_attribute import LatentAttributeLoss
from latentedit.losses.perceptual import LPIPSLoss, build_lpips
from latentedit.config import FrozenConfig
from latentedit.losses.weights import active_losses, resolve_loss_weights

TRAINER_LOSSES = ("adversarial", "r1", "style_reconstruction", "reference_intensity")
ATTRIBUTE_KEEP = ("label", "source_prob")


@dataclasses.dataclass(frozen=True)
class LossSettings(FrozenConfig):
    """How each loss network is built (its weight lives in the loss-weights mapping, not here)."""

    lpips_net: str = dataclasses.field(default="alex", metadata={"doc": "LPIPS backbone: alex, vgg or squeeze"})
    lpips_backbone_path: str | None = dataclasses.field(
        default=None, metadata={"doc": "torchvision backbone weights file; default: the torch hub cache"})
    lpips_pretrained_backbone: bool = dataclasses.field(
        default=True, metadata={"doc": "false = random backbone (tests only)"})
    lpips_max_size: int | None = dataclasses.field(
        default=256, metadata={"doc": "average-pool larger images to this side before LPIPS"})
    identity: str = dataclasses.field(
        default="embedder", metadata={"doc": "'embedder' (the one passed in) or 'facenet' (InceptionResnetV1)"})
    identity_distance: str = dataclasses.field(default="cosine", metadata={
        "doc": "how the identity loss compares embeddings: 'cosine' (1 - cos, face embedders) or 'l1' (mean |delta| "
               "per dimension, embedders whose outputs are measured quantities, e.g. the identity factors of a "
               "factor estimator)"})
    facenet_dataset: str = dataclasses.field(default="vggface2", metadata={"doc": "vggface2 or casia-webface"})
    facenet_weights_path: str | None = dataclasses.field(
        default=None, metadata={"doc": "InceptionResnetV1 weights file; default: facenet's cache"})
    facenet_crop: tuple[float, float, float, float] | None = dataclasses.field(
        default=None, metadata={"doc": "face box (top, bottom, left, right) as fractions of the aligned crop"})
    attribute_pos_weight: tuple[float, ...] | None = dataclasses.field(
        default=None, metadata={"doc": "BCE pos_weight per attribute (n_attr values)"})
    attribute_keep: str = dataclasses.field(default="label", metadata={
        "doc": "what the attribute loss asks of the attributes a target leaves unchanged: 'label' (ISF: the source's "
               "hard label, which rewards pushing them to extremes) or 'source_prob' (the classifier's own "
               "probability on the source image: keep them where they were)"})
    attribute_augment_shift: int = dataclasses.field(default=0, metadata={
        "doc": "frozen classifier: shift each edited image by up to this many pixels and mirror it at random before "
               "judging it (0 = off), so the mapper cannot satisfy the judge with one exact pixel pattern"})
    attribute_margin: float = dataclasses.field(default=0.0, metadata={
        "doc": "the attribute loss judges logit - margin * (2 target - 1): an edit must reach a logit past the margin "
               "(as clear as natural examples), not merely past 0 (0 = plain BCE, as ISF-GAN)"})
    attribute_margin_on: str = dataclasses.field(default="all", metadata={
        "doc": "'all': the margin applies to every term (kept attributes are held clearly on their side too); "
               "'changed': only to the attributes the target changes (toy ISF run O: kept attributes then drifted, "
               "others unchanged 0.964 -> 0.947, edited FD 74 -> 105)"})
    neighbourhood_per_layer: bool = dataclasses.field(
        default=False, metadata={"doc": "neighbourhood norm per W+ layer instead of per sample"})
    cycle_kind: str = dataclasses.field(default="l1", metadata={"doc": "l1 or l2 for latent and image cycles"})
    diversity_decay_steps: int = dataclasses.field(
        default=0, metadata={"doc": "linear decay of the diversity weight to 0 over this many steps (0 = none)"})
    latent_probe_samples: int = dataclasses.field(default=4000, metadata={
        "doc": "latent_attribute: source latents the linear probe on W is fitted on (labelled by the classifier)"})
    latent_probe_layers: str = dataclasses.field(default="each", metadata={
        "doc": "latent_attribute: 'each' W+ layer must cross the probe's boundary, or only their 'mean' code (which a "
               "W+ mapper satisfies by moving layers that barely change the image)"})
    latent_probe_c: float = dataclasses.field(default=1.0, metadata={
        "doc": "latent_attribute: inverse L2 strength of the probe's logistic regression (on raw W)"})

    def __post_init__(self):
        if isinstance(self.attribute_augment_shift, bool) or not isinstance(self.attribute_augment_shift, int) \
                or self.attribute_augment_shift < 0:
            raise ValueError(f"losses.attribute_augment_shift must be an int >= 0; got {self.attribute_augment_shift!r}")
        if isinstance(self.latent_probe_samples, bool) or not isinstance(self.latent_probe_samples, int) \
                or self.latent_probe_samples < 10:
            raise ValueError(f"losses.latent_probe_samples must be an int >= 10; got {self.latent_probe_samples!r}")
        if self.latent_probe_layers not in ("each", "mean"):
            raise ValueError(f"losses.latent_probe_layers must be 'each' or 'mean'; got {self.latent_probe_layers!r}")
        if not self.latent_probe_c > 0:
            raise ValueError(f"losses.latent_probe_c must be a number > 0; got {self.latent_probe_c!r}")
        if isinstance(self.attribute_margin, bool) or not isinstance(self.attribute_margin, (int, float)) \
                or not self.attribute_margin >= 0:
            raise ValueError(f"losses.attribute_margin must be a number >= 0; got {self.attribute_margin!r}")
        if self.attribute_margin_on not in MARGIN_ON:
            raise ValueError(f"losses.attribute_margin_on must be one of {MARGIN_ON}; got {self.attribute_margin_on!r}")
        if self.identity_distance not in IDENTITY_DISTANCES:
            raise ValueError(f"losses.identity_distance must be one of {IDENTITY_DISTANCES}; got "
                             f"{self.identity_distance!r}")
        if self.attribute_keep not in ATTRIBUTE_KEEP:
            raise ValueError(f"losses.attribute_keep must be one of {ATTRIBUTE_KEEP}; got {self.attribute_keep!r}")


def build_loss_modules(weights: Mapping[str, float], settings: LossSettings | None = None, *,
                       classifier: nn.Module | None = None, embedder: nn.Module | None = None,
                       latent_probe: tuple | None = None) -> nn.ModuleDict:
    """One weighted module per active loss (except ``adversarial``/``r1``), keyed by loss name.

    ``classifier``: frozen attribute classifier, needed when ``attribute`` is on; ``embedder``: identity embedder,
    needed when ``identity`` is on and ``settings.identity == 'embedder'``; ``latent_probe``: ``(weight (n_attr,
    w_dim), bias (n_attr,))`` of the linear probe on W, needed when ``latent_attribute`` is on
    (``latentedit.training.latent_probe.fit_run_probe``). ``lpips`` and ``lpips_cycle`` share one network.
    """
    settings = settings or LossSettings()
    weights = resolve_loss_weights(weights, source="build_loss_modules")
    out = nn.ModuleDict()
    shared_lpips = None
    for name in active_losses(weights):
        w = weights[name]
        if name in TRAINER_LOSSES:
            continue
        if name == "attribute":
            if classifier is None:
                raise ValueError("the 'attribute' loss is on (weight "
                                 f"{w:g}) but no classifier was given; pass classifier= or set its weight to 0")
            out[name] = AttributeLoss(classifier, weight=w, pos_weight=settings.attribute_pos_weight,
                                      augment_shift=settings.attribute_augment_shift,
                                      margin=settings.attribute_margin, margin_on=settings.attribute_margin_on)
        elif name in ("lpips", "lpips_cycle"):
            if shared_lpips is None:
                shared_lpips = build_lpips(settings.lpips_net, pretrained_backbone=settings.lpips_pretrained_backbone,
                                           backbone_path=settings.lpips_backbone_path)
            out[name] = LPIPSLoss(model=shared_lpips, weight=w, max_size=settings.lpips_max_size)
        elif name == "identity":
            if settings.identity == "facenet":
                out[name] = IdentityLoss.facenet(settings.facenet_dataset, weights_path=settings.facenet_weights_path,
                                                 crop=settings.facenet_crop, weight=w)
            elif settings.identity == "embedder":
                if embedder is None:
                    raise ValueError(f"the 'identity' loss is on (weight {w:g}) with identity='embedder' but no "
                                     "embedder was given; pass embedder=, use identity='facenet', "
                                     "or set its weight to 0")
                out[name] = IdentityLoss(embedder, weight=w, distance=settings.identity_distance)
            else:
                raise ValueError(f"LossSettings.identity must be 'embedder' or 'facenet'; got {settings.identity!r}")
        elif name == "latent_l2":
            out[name] = LatentL2Loss(weight=w)
        elif name == "neighbourhood":
            out[name] = NeighbourhoodLoss(weight=w, per_layer=settings.neighbourhood_per_layer)
        elif name in ("latent_cycle", "image_cycle"):
            out[name] = CycleLoss(weight=w, kind=settings.cycle_kind)
        elif name == "diversity":
            out[name] = DiversityLoss(weight=w, decay_steps=settings.diversity_decay_steps)
        elif name == "latent_attribute":
            if latent_probe is None:
                raise ValueError(f"the 'latent_attribute' loss is on (weight {w:g}) but no latent probe was given; "
                                 "pass latent_probe=(weight, bias) or set its weight to 0")
            out[name] = LatentAttributeLoss(*latent_probe, weight=w,
                                            per_layer=settings.latent_probe_layers == "each")
        else:  # pragma: no cover - LOSS_NAMES and this function must grow together
            raise NotImplementedError(f"build_loss_modules does not know how to build {name!r}")
    return out
