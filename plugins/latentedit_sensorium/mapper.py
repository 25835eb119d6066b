"""``sensorium``: a Sensorium-style reference-guided mapper (style encoder + style-modulated MLP on W+).

    w_plus (B, L, D), style (B, style_dim), target (B, n_attr) or None  ->  w_plus' (B, L, D)

``encode_style(images (B, 3, H, W))`` maps a *reference* photo to its style vector (the mean of the encoder's
Gaussian in eval mode, a sample in training). The style is split into one chunk per attribute group (near-equal
widths); chunk g modulates (StyleGAN2 modulation/demodulation, not concatenation) the MLP branch of group g, whose
output is a residual on the W+ layers that group may change (``layer_masks``)::

    w' = w + sum_g active[b, g] * mask[g, l] * branch_g(w + layer_embedding_g; style_g, code)

- ``target=None``: transfer every group's appearance from the reference (reference-guided editing).
- ``target`` given: its columns (NaN = keep) say which attributes to set and to what; a group whose attributes are
  all NaN is left alone, and the style says *how* the set attributes look (multimodal editing).
- ``style=None`` means style 0, the prior's mean (an 'average look'); ``sample_style(B)`` draws from the prior.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from latentedit.plugins import ConfigError, Mapper
from latentedit_sensorium.config import SensoriumConfig
from latentedit_sensorium.kl_hook import with_kl_gradient
from latentedit_sensorium.modulation import GroupedLinear, ModulatedLinear
from latentedit_sensorium.style_encoder import StyleEncoder, reparameterise

#: defaults over latentedit.losses.LOSS_NAMES (what the shared trainer can compute). The KL term rides on
#: ``encode_style`` as a gradient hook (weight ``mapper.kl_weight``); reference-attribute reconstruction and
#: self-reconstruction need the reference's labels and are in ``latentedit_sensorium.training`` (EXTRA_LOSS_WEIGHTS).
SENSORIUM_LOSS_WEIGHTS = {
    "attribute": 2.0,        # edited image has the target's attributes (frozen classifier)
    "lpips": 1.0,            # content: the edit looks like the source
    "identity": 0.1,         # content: the source's identity embedding holds
    "latent_cycle": 1.0,     # edit with the reference's style, then back with the source's own style
    "neighbourhood": 0.01,   # small edits in W+
}

SENSORIUM_TRAINER_RECIPE = {
    "lr": 1e-4,
    "betas": (0.0, 0.99),
    "batch": 16,
    "max_flips": 2,
    "grad_clip": 1.0,
    "ema_beta": 0.999,
}


class SensoriumMapper(Mapper):
    """Reference-guided, style-modulated W+ mapper with its own style encoder; see the module docstring."""

    config_class = SensoriumConfig
    kind = "trainable"
    takes_style = True
    plugin_name = "sensorium"

    def __init__(self, config: SensoriumConfig | None, generator_info):
        super().__init__(config, generator_info)
        cfg, gi = self.config, self.generator_info
        if gi.n_attr == 0:
            raise ConfigError("SensoriumMapper needs at least one attribute: GeneratorInfo(attribute_names=(...)) "
                              "is empty")
        self.groups = cfg.group_table(gi.attribute_names)
        n_groups = len(self.groups) if cfg.split_groups else 1
        if cfg.style_dim < n_groups:
            raise ConfigError(f"SensoriumConfig.style_dim={cfg.style_dim} is smaller than the {n_groups} attribute "
                              f"groups {[g for g, _ in self.groups]}; set mapper.style_dim >= {n_groups} or "
                              "split_groups=false")
        self.n_branches = n_groups
        sizes = [cfg.style_dim // n_groups + (1 if i < cfg.style_dim % n_groups else 0) for i in range(n_groups)]
        starts = [sum(sizes[:i]) for i in range(n_groups)]
        self._chunks = tuple(slice(a, a + k) for a, k in zip(starts, sizes))   # style columns of each branch
        chunk, hidden, code_dim = max(sizes), cfg.hidden_dim or gi.w_dim, 2 * gi.n_attr
        self.encoder = StyleEncoder(cfg.style_dim, tuple(cfg.encoder_channels), input_size=cfg.encoder_input,
                                    coords=cfg.encoder_coords)
        self.layer_embedding = nn.Parameter(torch.zeros(n_groups, gi.num_ws, gi.w_dim))
        dims = [gi.w_dim] + [hidden] * cfg.mod_layers
        self.blocks = nn.ModuleList(ModulatedLinear(n_groups, chunk + code_dim, a, b, demodulate=cfg.demodulate)
                                    for a, b in zip(dims[:-1], dims[1:]))
        self.out = GroupedLinear(n_groups, hidden, gi.w_dim, weight_scale=cfg.residual_init_scale)
        names = [g for g, _ in self.groups]
        unknown = [g for g, _ in cfg.layer_masks if g not in names]
        bad = [(g, i) for g, layers in cfg.layer_masks for i in layers if not 0 <= i < gi.num_ws]
        if unknown or bad:
            raise ConfigError(f"SensoriumConfig.layer_masks: groups must be among {names} and layers in "
                              f"[0, {gi.num_ws}); found unknown groups {unknown}, bad layers {bad}")
        member = torch.zeros(len(self.groups), gi.n_attr)              # (n_groups, n_attr)
        allowed = torch.ones(len(self.groups), gi.num_ws)               # (n_groups, L)
        for gidx, (gname, attrs) in enumerate(self.groups):
            for a in attrs:
                member[gidx, gi.attribute_names.index(a)] = 1.0
        for gname, layers in cfg.layer_masks:
            row = names.index(gname)
            allowed[row].zero_()
            allowed[row, list(layers)] = 1.0
        if not cfg.split_groups:  # one branch: it may change the union of the groups' layers
            allowed = allowed.amax(dim=0, keepdim=True)
        self.register_buffer("group_members", member, persistent=False)
        self.register_buffer("layer_allowed", allowed, persistent=False)

    @classmethod
    def default_loss_weights(cls) -> dict[str, float]:
        return dict(SENSORIUM_LOSS_WEIGHTS)

    @classmethod
    def default_trainer_config(cls) -> dict:
        """A starting recipe for the shared trainer's ``trainer`` section (``TrainerConfig`` fields)."""
        return dict(SENSORIUM_TRAINER_RECIPE)

    # ---- styles --------------------------------------------------------------------------------------------
    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(g for g, _ in self.groups)

    def group_slices(self) -> dict[str, slice]:
        """Which columns of the style vector belong to each group (all of them for every group when unsplit)."""
        if not self.config.split_groups:
            return {g: slice(0, self.config.style_dim) for g in self.group_names}
        return dict(zip(self.group_names, self._chunks))

    def style_columns(self, attributes) -> list[int]:
        """Style columns that matter for editing ``attributes`` (names): those of the groups holding them."""
        slices = self.group_slices()
        cols = {c for g, attrs in self.groups if any(a in attrs for a in attributes)
                for c in range(slices[g].start, slices[g].stop)}
        return sorted(cols)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reference images (B, 3, H, W) in [-1, 1] -> (mu (B, style_dim), logvar (B, style_dim))."""
        return self.encoder(images.to(self.layer_embedding.dtype))

    def encode_style(self, images: torch.Tensor, *, w_plus: torch.Tensor | None = None,
                     sample: bool | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Trainer hook and user call: reference images (B, 3, H, W) -> style (B, style_dim).

        ``sample`` (default: in training mode) draws from the encoder's Gaussian instead of taking its mean; in
        training, the KL to N(0, I) is added to the encoder's gradients with weight ``config.kl_weight``.
        ``w_plus`` (the reference's latents, passed by the trainer) is not used: the style comes from pixels."""
        mu, logvar = self.encode(images)
        if self.training:
            mu, logvar = with_kl_gradient(mu, logvar, self.config.kl_weight)
        if self.training if sample is None else sample:
            return reparameterise(mu, logvar, generator=generator)
        return mu

    def sample_style(self, batch: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Styles from the prior N(0, I): (batch, style_dim)."""
        return torch.randn(batch, self.config.style_dim, generator=generator).to(self.layer_embedding)

    # ---- the call ------------------------------------------------------------------------------------------
    def _condition(self, target: torch.Tensor | None, style: torch.Tensor, batch: int):
        """-> (cond (B, G, chunk + 2 n_attr), active (B, G)) for the branches."""
        n_attr, dtype, dev = self.generator_info.n_attr, style.dtype, style.device
        if target is None:
            code = style.new_zeros(batch, 2 * n_attr)
            active = style.new_ones(batch, self.n_branches)
        else:
            edited = ~torch.isnan(target)
            values = torch.nan_to_num(target, nan=0.0).clamp(0.0, 1.0)
            code = torch.cat([values, edited.to(dtype)], dim=1)
            by_group = (edited.to(dtype) @ self.group_members.to(dtype).T) > 0          # (B, n_groups)
            active = by_group.to(dtype) if self.config.split_groups else by_group.any(1, keepdim=True).to(dtype)
        width = max(c.stop - c.start for c in self._chunks)
        chunks = torch.stack([F.pad(style[:, c], (0, width - (c.stop - c.start))) for c in self._chunks], dim=1)
        cond = torch.cat([chunks, code.to(dev)[:, None, :].expand(-1, self.n_branches, -1)], dim=2)
        return cond, active

    def forward(self, w_plus: torch.Tensor, *, target: torch.Tensor | None = None,
                style: torch.Tensor | None = None) -> torch.Tensor:
        """w_plus (B, L, D), target (B, n_attr) or None (NaN = keep), style (B, style_dim) or None -> (B, L, D)."""
        b = w_plus.shape[0]
        if style is None:
            style = w_plus.new_zeros(b, self.config.style_dim)
        style = style.to(w_plus.dtype)
        cond, active = self._condition(None if target is None else target.to(w_plus.dtype), style, b)
        h = w_plus[:, None] + self.layer_embedding[None].to(w_plus.dtype)            # (B, G, L, D)
        for block in self.blocks:
            h = F.leaky_relu(block(h, cond), 0.2)
        delta = self.out(h)                                                           # (B, G, L, D)
        gate = active[:, :, None, None] * self.layer_allowed.to(delta.dtype)[None, :, :, None]
        return w_plus + (delta * gate).sum(dim=1)
