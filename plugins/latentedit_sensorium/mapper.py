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
from latentedit.plugins.targets import keep_unchanged
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
                                    coords=cfg.encoder_coords, normalise=cfg.encoder_norm, pool=cfg.encoder_pool)
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
        self.attribute_head = self.latent_reader = None
        self._style_terms: dict[str, torch.Tensor] = {}
        if cfg.reference_code:  # style -> the encoded image's attribute logits; group g reads only its own chunk
            self.attribute_head = nn.Linear(cfg.style_dim, gi.n_attr)
            self.latent_reader = nn.Linear(gi.w_dim, gi.n_attr)               # mean W code -> the source's logits
            head_mask = torch.ones(gi.n_attr, cfg.style_dim)                    # (n_attr, style_dim)
            if cfg.split_groups:
                head_mask.zero_()
                for gidx, (_, attrs) in enumerate(self.groups):
                    for a in attrs:
                        head_mask[gi.attribute_names.index(a), self._chunks[gidx]] = 1.0
            self.register_buffer("head_mask", head_mask, persistent=False)

    @classmethod
    def default_loss_weights(cls) -> dict[str, float]:
        return dict(SENSORIUM_LOSS_WEIGHTS)

    @classmethod
    def default_trainer_config(cls) -> dict:
        """A starting recipe for the shared trainer's ``trainer`` section (``TrainerConfig`` fields)."""
        return dict(SENSORIUM_TRAINER_RECIPE)

    def lr_multipliers(self) -> dict[str, float]:
        """Trainer hook: the style encoder and the two attribute readers learn at ``config.encoder_lr_mul`` x lr."""
        mul = float(self.config.encoder_lr_mul)
        return {} if mul == 1.0 else {"encoder.": mul, "attribute_head.": mul, "latent_reader.": mul}

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
                     labels: torch.Tensor | None = None, sample: bool | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """Trainer hook and user call: reference images (B, 3, H, W) -> style (B, style_dim).

        ``sample`` (default: in training mode) draws from the encoder's Gaussian instead of taking its mean; in
        training, the KL to N(0, I) is added to the encoder's gradients with weight ``config.kl_weight``.
        ``labels`` (B, n_attr) in {0, 1}, the judge's labels of ``images`` (passed by the trainer): in training,
        with ``reference_code``, the attribute head's BCE against them is queued as the term ``style_attribute``
        and, when ``w_plus`` (the latents that drew the images) is given, the latent reader's as ``latent_reader``
        (``pop_style_terms``). The style itself comes from pixels only."""
        mu, logvar = self.encode(images)
        if self.training:
            mu, logvar = with_kl_gradient(mu, logvar, self.config.kl_weight)
            weight = self.config.attribute_head_weight
            if labels is not None and self.attribute_head is not None and weight > 0:
                if labels.shape != (mu.shape[0], self.generator_info.n_attr):
                    raise ValueError(f"encode_style: labels must be (B, {self.generator_info.n_attr}) for "
                                     f"{mu.shape[0]} images; got {tuple(labels.shape)}")
                labels = labels.to(mu.dtype)
                self._queue("style_attribute", weight * F.binary_cross_entropy_with_logits(
                    self.attribute_logits(mu), labels))
                if w_plus is not None:  # the same labels teach the reader of the latent that drew the image
                    self._queue("latent_reader", weight * F.binary_cross_entropy_with_logits(
                        self.source_logits(w_plus.detach()), labels))
        if self.training if sample is None else sample:
            return reparameterise(mu, logvar, generator=generator)
        return mu

    def attribute_logits(self, style: torch.Tensor) -> torch.Tensor:
        """style (B, style_dim) -> the attribute head's logits (B, n_attr): what the style says the reference's
        attributes are (only with ``reference_code``)."""
        if self.attribute_head is None:
            raise ConfigError("this sensorium mapper has no attribute head (SensoriumConfig.reference_code=false)")
        head = self.attribute_head
        return F.linear(style.to(head.weight.dtype), head.weight * self.head_mask.to(head.weight.dtype), head.bias)

    def source_logits(self, w_plus: torch.Tensor) -> torch.Tensor:
        """w_plus (B, L, D) -> the latent reader's attribute logits of the face it draws (B, n_attr) (only with
        ``reference_code``)."""
        if self.latent_reader is None:
            raise ConfigError("this sensorium mapper has no latent reader (SensoriumConfig.reference_code=false)")
        return self.latent_reader(w_plus.mean(dim=1).to(self.latent_reader.weight.dtype))

    def reference_target(self, w_plus: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """What a reference transfer asks (``reference_code``): a target (B, n_attr) holding the reference's label
        (attribute head on the style) where it differs from the source's (latent reader on w_plus) and NaN (keep)
        elsewhere, i.e. exactly a target edit. Hard labels, as target edits are trained with, so the readings get
        no gradient from the edit (only their own BCE terms train them)."""
        ref = self.attribute_logits(style) > 0
        src = self.source_logits(w_plus) > 0
        return torch.where(ref != src, ref.to(style.dtype), torch.full_like(style[:, :1], float("nan")))

    def style_mask(self, w_plus: torch.Tensor, *, target: torch.Tensor | None, style: torch.Tensor) -> torch.Tensor:
        """Trainer hook (``style_reconstruction``): (B, style_dim) 1 on the style columns of the groups a call
        ``self(w_plus, target=target, style=style)`` changes (target None: a reference transfer). With the attribute
        head, a group whose asked values disagree with what the head reads in the style is left out: an edit to
        add glasses made with the style of a face without them cannot also show that style."""
        b, dtype = w_plus.shape[0], style.dtype
        asked = target if target is not None or self.attribute_head is None else self.reference_target(w_plus, style)
        _, active = self._condition(asked, style, b, w_plus)                     # (B, n_branches)
        if asked is not None and self.attribute_head is not None:
            said = (self.attribute_logits(style) > 0).to(dtype)
            clash = (~torch.isnan(asked)) & (said != torch.nan_to_num(asked, nan=0.0).round())    # (B, n_attr)
            bad = (clash.to(dtype) @ self.group_members.to(dtype).T) > 0                           # (B, n_groups)
            bad = bad if self.config.split_groups else bad.any(1, keepdim=True)
            active = active * (~bad).to(dtype)
        columns = torch.zeros(self.n_branches, self.config.style_dim, dtype=dtype, device=style.device)
        for g, sl in enumerate(self._chunks):
            columns[g, sl] = 1.0
        return (active @ columns).clamp(max=1.0)

    def condition_target(self, target: torch.Tensor, source: torch.Tensor, *, keep_u: torch.Tensor | None = None,
                         generator: torch.Generator | None = None) -> torch.Tensor:
        """Trainer hook: each attribute the target leaves unchanged becomes NaN (keep) with probability
        ``keep_prob`` (target, source (B, n_attr) in {0, 1}; keep_u (B, n_attr) uniform draws, else drawn here)."""
        u = torch.rand(target.shape, generator=generator) if keep_u is None else keep_u
        return keep_unchanged(target, source, u, self.config.keep_prob)

    def _queue(self, name: str, term: torch.Tensor) -> None:
        prev = self._style_terms.get(name)
        self._style_terms[name] = term if prev is None else prev + term

    def pop_style_terms(self) -> dict[str, torch.Tensor]:
        """Trainer hook: the weighted terms queued by ``encode_style`` since the last call (then cleared)."""
        terms, self._style_terms = self._style_terms, {}
        return terms

    def sample_style(self, batch: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Styles from the prior N(0, I): (batch, style_dim)."""
        return torch.randn(batch, self.config.style_dim, generator=generator).to(self.layer_embedding)

    # ---- the call ------------------------------------------------------------------------------------------
    def _condition(self, target: torch.Tensor | None, style: torch.Tensor, batch: int, w_plus: torch.Tensor):
        """-> (cond (B, G, chunk + 2 n_attr), active (B, G)) for the branches."""
        n_attr, dtype, dev = self.generator_info.n_attr, style.dtype, style.device
        if target is None and self.attribute_head is not None:  # a target edit: where reference and source differ
            target = self.reference_target(w_plus, style)
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
        cond, active = self._condition(None if target is None else target.to(w_plus.dtype), style, b, w_plus)
        if self.config.relative_delta:  # minus the keep-everything code's output, in one batched pass
            keep = cond.clone()
            keep[:, :, cond.shape[2] - 2 * self.generator_info.n_attr:] = 0.0
            asked, kept = self._branches(w_plus.repeat(2, 1, 1), torch.cat([cond, keep])).chunk(2)
            delta = asked - kept
        else:
            delta = self._branches(w_plus, cond)
        gate = active[:, :, None, None] * self.layer_allowed.to(delta.dtype)[None, :, :, None]
        return w_plus + (delta * gate).sum(dim=1)

    def _branches(self, w_plus: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """w_plus (B, L, D), cond (B, G, chunk + 2 n_attr) -> every branch's output (B, G, L, D)."""
        h = w_plus[:, None] + self.layer_embedding[None].to(w_plus.dtype)            # (B, G, L, D)
        for block in self.blocks:
            h = F.leaky_relu(block(h, cond), 0.2)
        return self.out(h)
