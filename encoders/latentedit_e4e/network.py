"""The e4e network: IR-SE backbone + feature pyramid + one style head per W+ layer, progressive offsets.

    images (B, 3, R, R) in [-1, 1], R = config.input_resolution
      -> backbone taps c1 (R/4), c2 (R/8), c3 (R/16)
      -> w0 = styles[0](c3): the base code, copied to every layer
      -> for i in 1 .. min(stage, num_ws - 1): w[:, i] += styles[i](features_i)   (the offsets)
         features_i = c3 (coarse), p2 = c3 (+) latlayer1(c2) (middle), p1 = p2 (+) latlayer2(c1) (fine)
    -> codes (B, num_ws, w_dim), *without* latent_avg (the wrapper adds it)

``stage`` is e4e's ``ProgressiveStage``: 0 = the base code only, k = offsets 1..k active, ``num_ws`` (e4e's
``Inference`` = 18 at 1024 px) = every offset. Inactive heads are not evaluated at all.
"""

from __future__ import annotations

import torch
from torch import nn

from latentedit_e4e.config import E4EConfig
from latentedit_e4e.heads import GradualStyleBlock, upsample_add
from latentedit_e4e.irse import IRSEBackbone, backbone_taps


def check_images(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """Raise unless x is (B, 3, resolution, resolution)."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != (3, resolution, resolution):
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"e4e expects images (B, 3, {resolution}, {resolution}) in [-1, 1]; got {got} "
                         f"(E4EEncoder.invert resizes any square size for you)")
    return x


class E4ENetwork(nn.Module):
    """The trainable part of e4e; its state dict has the official ``encoder.*`` names (minus the prefix)."""

    def __init__(self, config: E4EConfig):
        super().__init__()
        self.config = config
        c = config
        backbone = IRSEBackbone(c.stage_units, c.stage_widths, c.stem_width, c.se_reduction)
        self.input_layer, self.body, self.taps = backbone.input_layer, backbone.body, backbone.taps
        self.styles = nn.ModuleList([GradualStyleBlock(c.fpn_width, c.w_dim, c.head_spatial(i))
                                     for i in range(c.num_ws)])
        self.latlayer1 = nn.Conv2d(c.stage_widths[2], c.fpn_width, 1)
        self.latlayer2 = nn.Conv2d(c.stage_widths[1], c.fpn_width, 1)
        self.stage = c.num_ws  # inference: every offset

    def set_stage(self, stage: int) -> None:
        """Activate offsets 1..stage (0 = base code only; num_ws or more = all, e4e's Inference)."""
        if not isinstance(stage, int) or stage < 0:
            raise ValueError(f"progressive stage must be an int >= 0; got {stage!r}")
        self.stage = min(stage, self.config.num_ws)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Backbone taps (c1, c2, c3) of images (B, 3, R, R)."""
        return backbone_taps(self.input_layer, self.body, self.taps, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """images (B, 3, R, R) -> codes (B, num_ws, w_dim): base code + active offsets (no latent_avg)."""
        c = self.config
        c1, c2, c3 = self.features(check_images(x, c.input_resolution))
        w0 = self.styles[0](c3)
        rows = [w0]
        feats, p2 = c3, None
        for i in range(1, c.num_ws):
            if i > self.stage:
                rows.append(w0)
                continue
            if i >= c.coarse_end and p2 is None:
                p2 = upsample_add(c3, self.latlayer1(c2))
                feats = p2
            if i >= c.middle_end and feats is p2:
                feats = upsample_add(p2, self.latlayer2(c1))
            rows.append(w0 + self.styles[i](feats))
        return torch.stack(rows, dim=1)

    def offsets(self, codes: torch.Tensor) -> torch.Tensor:
        """Per-layer offsets from the base code: codes (B, num_ws, w_dim) -> (B, num_ws - 1, w_dim)."""
        return codes[:, 1:] - codes[:, :1]
