"""The jointly trained attribute discriminator (StarGAN / ISF-GAN style): one conv trunk, two heads.

    images (B, 3, H, W) in [-1, 1] --trunk--> features (B, C) --+--> real/fake logits  (B, 1)
                                                                 +--> attribute logits (B, n_attr)

It learns to tell source images (real) from edited images (fake), and to classify the attributes of real images
(labelled by the pretrained classifier). The mapper is trained to fool the first head and to satisfy the
second. R1 is taken on the real/fake head only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from latentedit.losses import attribute_loss, discriminator_adversarial_loss, r1_penalty


#: the largest input the joint discriminator sees by default (ISF-GAN pools 1024-px outputs to 256)
DEFAULT_MAX_INPUT = 256


def discriminator_input_size(resolution: int, configured: int | None = None) -> int:
    """The image size the joint discriminator sees: ``configured`` when given, else the generator's
    ``resolution`` capped at ``DEFAULT_MAX_INPUT``."""
    return int(configured) if configured else min(int(resolution), DEFAULT_MAX_INPUT)


class AttributeDiscriminator(nn.Module):
    """Stride-2 conv blocks of widths ``channels`` (LeakyReLU 0.2), global average pool, two linear heads.

    Inputs of any square size are first resized to ``input_size`` (default 64, antialiased when shrinking).
    """

    def __init__(self, n_attr: int, channels: tuple[int, ...] = (32, 64, 128), *, input_size: int = 64):
        super().__init__()
        if n_attr < 1:
            raise ValueError(f"AttributeDiscriminator needs n_attr >= 1; got {n_attr}")
        layers, cin = [], 3
        for c in channels:
            layers += [nn.Conv2d(cin, c, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
            cin = c
        self.trunk = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.real_fake = nn.Linear(cin, 1)
        self.classify = nn.Linear(cin, n_attr)
        self.input_size = int(input_size)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, C)."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"AttributeDiscriminator: expected (B, 3, H, W) images; got {tuple(x.shape)}")
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > self.input_size)
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) -> (real/fake logits (B, 1), attribute logits (B, n_attr))."""
        f = self.features(x)
        return self.real_fake(f), self.classify(f)


def build_joint_discriminator(tc, n_attr: int, resolution: int) -> nn.Module:
    """The joint discriminator a ``TrainerConfig`` asks for (``joint_discriminator``: 'single' or 'multiscale'),
    its input size following the generator's ``resolution`` (``discriminator_input_size``)."""
    size = discriminator_input_size(resolution, tc.d_input_size)
    if tc.joint_discriminator == "multiscale":
        from latentedit.training.multiscale_discriminator import MultiScaleAttributeDiscriminator

        return MultiScaleAttributeDiscriminator(n_attr, tuple(tc.d_channels), input_size=size, scales=tc.d_scales)
    return AttributeDiscriminator(n_attr, tuple(tc.d_channels), input_size=size)


class DiscriminatorObjective(nn.Module):
    """The discriminator's loss for one step (wrap this module in DDP, not the discriminator itself):

    ``adv_weight * (softplus(-D(real)) + softplus(D(fake))) + cls_weight * BCE(cls(real), labels)
    + r1_weight * R1(real/fake head at real)``. Returns ``(total, terms)`` with the weighted terms.
    """

    def __init__(self, D: AttributeDiscriminator, *, adv_weight: float, cls_weight: float, r1_weight: float):
        super().__init__()
        self.D = D
        self.adv_weight, self.cls_weight, self.r1_weight = float(adv_weight), float(cls_weight), float(r1_weight)

    def forward(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor):
        """real, fake: (B, 3, H, W) (no grad needed); labels: (B, n_attr) in {0, 1}."""
        real = real.detach().requires_grad_(self.r1_weight > 0)
        rf_real, cls_real = self.D(real)
        rf_fake, _ = self.D(fake.detach())
        terms = {"d_adv": self.adv_weight * discriminator_adversarial_loss(rf_real, rf_fake),
                 "d_cls": self.cls_weight * attribute_loss(cls_real, labels)}
        if self.r1_weight > 0:
            terms["d_r1"] = self.r1_weight * r1_penalty(rf_real, real)
        return terms
