"""The multi-scale attribute discriminator with feature matching (pix2pixHD), an option of the joint discriminator
(``trainer.joint_discriminator = "multiscale"``).

``scales`` discriminators of the same architecture see the image at ``input_size``, ``input_size / 2``, ... (each
scale average-pools the previous by 2, as pix2pixHD's 3x3 stride-2 pooling); each has a real/fake head and an
attribute head::

    images (B, 3, H, W) -> resized to input_size -> D_0 ... D_{S-1} (one per scale)
    forward  -> real/fake logits (B, S) (one column per scale), attribute logits (B, n_attr) (the scales' mean)
    features -> per scale, the activations after each conv block: [[(B, C_k, H_k, W_k), ...], ...]

Feature matching (pix2pixHD's ``loss_G_GAN_Feat``): the mean over scales and blocks of the mean |D_s^k(fake) -
D_s^k(real)|, here with the *source* image as the pair of its edit (latent editing has no ground-truth edit), so
the edit keeps the source's statistics at every scale the discriminator looks at. It is zero for identical inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SCALES = (2, 3)


class ScaleDiscriminator(nn.Module):
    """One scale: stride-2 conv blocks (LeakyReLU 0.2) whose activations are kept, global average pool, two heads."""

    def __init__(self, n_attr: int, channels: tuple[int, ...]):
        super().__init__()
        widths = (3,) + tuple(channels)
        self.blocks = nn.ModuleList(nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in zip(widths[:-1], widths[1:]))
        self.real_fake = nn.Linear(widths[-1], 1)
        self.classify = nn.Linear(widths[-1], n_attr)

    def activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        acts = []
        for conv in self.blocks:
            x = F.leaky_relu(conv(x), 0.2)
            acts.append(x)
        return acts

    def heads(self, last: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = last.mean(dim=(2, 3))
        return self.real_fake(pooled), self.classify(pooled)


class MultiScaleAttributeDiscriminator(nn.Module):
    """``scales`` (2 or 3) ``ScaleDiscriminator``s at input_size / 2^k; see the module docstring."""

    def __init__(self, n_attr: int, channels: tuple[int, ...] = (32, 64, 128), *, input_size: int = 64,
                 scales: int = 2):
        super().__init__()
        if n_attr < 1:
            raise ValueError(f"MultiScaleAttributeDiscriminator needs n_attr >= 1; got {n_attr}")
        if scales not in SCALES:
            raise ValueError(f"MultiScaleAttributeDiscriminator: scales must be one of {SCALES}; got {scales}")
        if input_size // 2 ** (scales - 1) < 2 ** len(channels):
            raise ValueError(f"MultiScaleAttributeDiscriminator: input_size {input_size} is too small for {scales} "
                             f"scales of {len(channels)} stride-2 blocks (the coarsest scale needs at least "
                             f"{2 ** len(channels)} px); use fewer scales or a larger trainer.d_input_size")
        self.input_size = int(input_size)
        self.scales = nn.ModuleList(ScaleDiscriminator(n_attr, tuple(channels)) for _ in range(scales))

    def pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) -> the inputs of each scale: (B, 3, input_size / 2^k, ...)."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"MultiScaleAttributeDiscriminator: expected (B, 3, H, W) images; got {tuple(x.shape)}")
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > self.input_size)
        out = [x]
        for _ in range(len(self.scales) - 1):
            out.append(F.avg_pool2d(out[-1], 3, stride=2, padding=1, count_include_pad=False))
        return out

    def features(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        """Per scale, the activations of each block."""
        return [d.activations(xi) for d, xi in zip(self.scales, self.pyramid(x))]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) -> (real/fake logits (B, scales), attribute logits (B, n_attr), the scales' mean)."""
        outs = [d.heads(acts[-1]) for d, acts in zip(self.scales, self.features(x))]
        return torch.cat([rf for rf, _ in outs], dim=1), torch.stack([c for _, c in outs]).mean(dim=0)

    def feature_matching_loss(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Mean over scales and blocks of mean |features(fake) - features(real)| (real detached): a scalar."""
        with torch.no_grad():
            real_feats = self.features(real)
        terms = [(f - r).abs().mean() for fs, rs in zip(self.features(fake), real_feats) for f, r in zip(fs, rs)]
        return torch.stack(terms).mean()
