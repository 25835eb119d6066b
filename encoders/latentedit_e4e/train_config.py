"""``E4ETrainConfig``: the e4e training recipe as a frozen config, stored in every checkpoint and encoder file.

Defaults are e4e's (``options/train_options.py`` + the README recipe): l2 1.0, lpips 0.8 (alex), id 0.1,
delta_norm 2 with weight 2e-4, latent discriminator weight 0.1 (lr 2e-5, R1 10 every 16 steps, W pool of 50),
lr 1e-4, batch 8, progressive start 20000 with a new offset every 2000 steps, start from latent_avg.
Deviation: e4e trains with Ranger; we use Adam (``optimizer``) since Ranger is not in torch.
``E4ETrainConfig.toy()`` is the shorter recipe for the 64-px toy-faces generator on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from latentedit.config import FrozenConfig

IDENTITY_CHOICES = ("toy", "facenet", "none")
ATTRIBUTE_CHOICES = ("toy", "none")
DATA_CHOICES = ("toy", "folder", "generator")
#: e4e's ArcFace crop of a 256-px aligned face, [35:223, 32:220], as fractions (top, bottom, left, right)
E4E_ID_CROP = (35 / 256, 223 / 256, 32 / 256, 220 / 256)


def _doc(default, doc: str):
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class E4ETrainConfig(FrozenConfig):
    """Everything that defines an e4e training run (except the generator, recorded by fingerprint)."""

    # losses
    l2_lambda: float = _doc(1.0, "pixel MSE weight")
    lpips_lambda: float = _doc(0.8, "LPIPS weight")
    lpips_net: str = _doc("alex", "LPIPS backbone (alex | vgg | squeeze)")
    lpips_pretrained: bool = _doc(True, "False: random LPIPS backbone (tests only)")
    id_lambda: float = _doc(0.1, "identity loss weight")
    identity: str = _doc("toy", "identity embedder: toy (toy-faces judge) | facenet (InceptionResnetV1) | none")
    id_crop: tuple[float, ...] = _doc((), "face crop (top, bottom, left, right) fractions for the identity net; "
                                          "() = whole image (facenet default: e4e's crop)")
    attr_lambda: float = _doc(0.0, "attribute preservation weight (ours, not e4e's): BCE of an attribute "
                                   "classifier on the reconstruction against its own probabilities on the input; "
                                   "keeps small attribute cues (a smile) that a pixel loss without LPIPS averages "
                                   "away")
    attributes: str = _doc("toy", "attribute classifier for attr_lambda: toy (the toy-faces attribute judge) | none")
    delta_norm: int = _doc(2, "p of the offset norm")
    delta_norm_lambda: float = _doc(2e-4, "offset regularisation weight (only with progressive training)")
    w_discriminator_lambda: float = _doc(0.1, "latent discriminator (adversarial) weight; 0 = off")
    w_discriminator_lr: float = _doc(2e-5, "latent discriminator learning rate")
    w_discriminator_layers: int = _doc(4, "latent discriminator depth")
    r1: float = _doc(10.0, "R1 weight on the latent discriminator")
    d_reg_every: int = _doc(16, "lazy R1 interval")
    use_w_pool: bool = _doc(True, "history pool of codes for the discriminator")
    w_pool_size: int = _doc(50, "size of the W pool")
    # optimisation
    learning_rate: float = _doc(1e-4, "encoder learning rate")
    optimizer: str = _doc("adam", "adam (e4e uses Ranger)")
    batch_size: int = _doc(8, "images per step")
    progressive_start: int | None = _doc(20000, "step at which offset 1 starts; None = all offsets from step 0")
    progressive_step_every: int = _doc(2000, "steps between enabling consecutive offsets")
    start_from_latent_avg: bool = _doc(True, "add the generator's w_avg to the encoder output")
    # data
    data: str = _doc("toy", "toy (toy-faces renders) | folder (images in data_path) | generator (G's samples)")
    data_path: str = _doc("", "image folder for data=folder")
    toy_prior: bool = _doc(True, "toy renders: sample with the correlation prior")
    seed: int = _doc(0, "seed of data order, z and initialisation")
    # encoder architecture (empty = derived from the generator: E4EConfig.small / official)
    encoder_stage_units: tuple[int, ...] = _doc((), "IR-SE units per stage; () = derived")
    encoder_stage_widths: tuple[int, ...] = _doc((), "IR-SE widths per stage; () = derived")
    encoder_input_resolution: int = _doc(0, "encoder input size; 0 = derived")

    def __post_init__(self):
        for name in ("encoder_stage_units", "encoder_stage_widths", "id_crop"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.identity not in IDENTITY_CHOICES:
            raise ValueError(f"identity must be one of {IDENTITY_CHOICES}; got {self.identity!r}")
        if self.attributes not in ATTRIBUTE_CHOICES:
            raise ValueError(f"attributes must be one of {ATTRIBUTE_CHOICES}; got {self.attributes!r}")
        if not self.attr_lambda >= 0:
            raise ValueError(f"attr_lambda must be a number >= 0; got {self.attr_lambda!r}")
        if self.data not in DATA_CHOICES:
            raise ValueError(f"data must be one of {DATA_CHOICES}; got {self.data!r}")
        if self.data == "folder" and not self.data_path:
            raise ValueError("data='folder' needs data_path (a folder of aligned face images)")
        if self.optimizer != "adam":
            raise ValueError(f"optimizer must be 'adam'; got {self.optimizer!r}")
        if self.batch_size < 1 or self.progressive_step_every < 1 or self.d_reg_every < 1:
            raise ValueError("batch_size, progressive_step_every and d_reg_every must be >= 1")
        if self.id_crop and len(self.id_crop) != 4:
            raise ValueError(f"id_crop must be () or 4 fractions (top, bottom, left, right); got {self.id_crop}")

    @classmethod
    def toy(cls, **overrides: Any) -> E4ETrainConfig:
        """The toy-faces recipe: same losses, faster schedule (offsets from step 1000, one more every 300)."""
        base = dict(learning_rate=5e-4, batch_size=8, progressive_start=1000, progressive_step_every=300,
                    identity="toy", data="toy", encoder_input_resolution=64)
        return cls(**{**base, **overrides})


def stage_at(step: int, cfg: E4ETrainConfig, num_ws: int) -> int:
    """e4e's progressive stage at ``step``: 0 before ``progressive_start``, then one more offset every
    ``progressive_step_every`` steps, up to ``num_ws`` (all); ``num_ws`` throughout when progressive_start is None."""
    if cfg.progressive_start is None:
        return num_ws
    if step < cfg.progressive_start:
        return 0
    return min(num_ws, 1 + (step - cfg.progressive_start) // cfg.progressive_step_every)
