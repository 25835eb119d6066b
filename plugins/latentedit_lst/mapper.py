"""``lst``: reference-guided editing by Linear Style Transfer (Li et al. 2019) on W+ layer groups.

    w_plus (B, L, D), style (B, L * D) (the reference's W+, flattened), target (B, n_attr) or None -> (B, L, D)

For each layer group g (coarse / middle / fine by default, or an attribute's layers), with X = w_plus[:, layers_g]
(B, n_g, D) and Y the reference's codes of the same layers::

    T_g = T_ref,g(Y) @ T_src,g(X)                                 (B, r, r), r = config.rank << D
    X'  = X + U_g (T_g C_g (X - mu_s) + C_g mu_r - C_g X)          (keep_complement, the default)
    X'  = U_g T_g C_g (X - mu_s) + mu_r                            (keep_complement=False: the paper's form)

C_g (r, D) compress, U_g (D, r) uncompress, mu_s / mu_r (B, 1, D) the means of X / Y over the group's layers
(``latentedit_lst.transform`` derives both forms). Layers in no group are kept.

- ``style`` is the reference's W+: ``encode_style(images)`` predicts it with the mapper's own reference encoder
  (any reference image works; in training the encoder also regresses to the latents that drew the references).
  ``sample-edits --mix REF2 --mix-group G`` takes group G's layers from a second reference (``group_slices``).
- ``target=None``: transfer every group (reference transfer). A target (NaN = keep) transfers only the groups that
  carry an attribute it sets (``group_attributes``); the reference decides how they look.
- ``style=None``: there is nothing to transfer; the call raises. ``sample_style`` draws random references from
  running statistics of the training references' codes (for ``--mode random`` and the edit benchmark).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from latentedit.plugins import ConfigError, Mapper
from latentedit_lst.config import LSTConfig
from latentedit_lst.reference_encoder import ReferenceEncoder
from latentedit_lst.transform import GroupTransfer

#: defaults over latentedit.losses.LOSS_NAMES: the edit shows the reference's attributes (the trainer's
#: reference targets), keeps the source's look (LPIPS) and identity, and stays near the source in W+
LST_LOSS_WEIGHTS = {
    "attribute": 2.0,
    "lpips": 1.0,
    "identity": 1.0,
    "latent_l2": 1.0,
}

#: the shared trainer's recipe: every step a reference transfer (target = the reference's labels, call target=None)
LST_TRAINER_RECIPE = {
    "targets": "reference",
    "lr": 3e-4,
    "betas": (0.5, 0.99),
    "batch": 16,
    "grad_clip": 1.0,
    "ema_beta": 0.995,
}


class LSTMapper(Mapper):
    """Linear Style Transfer between a source's and a reference's W+ layer groups; see the module docstring."""

    config_class = LSTConfig
    kind = "trainable"
    takes_style = True
    plugin_name = "lst"

    def __init__(self, config: LSTConfig | None, generator_info):
        super().__init__(config, generator_info)
        cfg, gi = self.config, self.generator_info
        self.groups = cfg.group_table(gi.num_ws)
        carried = dict(cfg.group_attributes)
        unknown = sorted({a for attrs in carried.values() for a in attrs} - set(gi.attribute_names))
        if unknown:
            raise ConfigError(f"LSTConfig.group_attributes names attributes {unknown}; this generator's are "
                              f"{list(gi.attribute_names)}")
        member = torch.ones(len(self.groups), gi.n_attr)                     # (n_groups, n_attr)
        for g, (name, _) in enumerate(self.groups):
            if name in carried:
                member[g] = torch.tensor([float(a in carried[name]) for a in gi.attribute_names])
        self.register_buffer("group_members", member, persistent=False)
        self.transfers = nn.ModuleList(
            GroupTransfer(gi.w_dim, cfg.rank, cfg.hidden, uncompress_init=cfg.uncompress_init,
                          keep_complement=cfg.keep_complement) for _ in self.groups)
        self.encoder = ReferenceEncoder(gi.num_ws, gi.w_dim, tuple(cfg.encoder_channels),
                                        input_size=cfg.encoder_input)
        self._style_terms: dict[str, torch.Tensor] = {}
        # the prior of sample_style: running mean / mean square of the training references' W+ (flattened)
        self.register_buffer("style_mean", torch.zeros(gi.num_ws * gi.w_dim))
        self.register_buffer("style_sq", torch.ones(gi.num_ws * gi.w_dim))

    @property
    def style_dim(self) -> int:
        """The style is the reference's W+ flattened: num_ws * w_dim."""
        return self.generator_info.num_ws * self.generator_info.w_dim

    @classmethod
    def default_loss_weights(cls) -> dict[str, float]:
        return dict(LST_LOSS_WEIGHTS)

    @classmethod
    def default_trainer_config(cls) -> dict:
        """The shared trainer's recipe (reference transfer on every step)."""
        return dict(LST_TRAINER_RECIPE)

    # ---- styles = reference codes ----------------------------------------------------------------------------
    def encode_style(self, images: torch.Tensor, *, w_plus: torch.Tensor | None = None) -> torch.Tensor:
        """Reference images (B, 3, H, W) in [-1, 1] -> their predicted W+, flattened (B, num_ws * w_dim).

        In training, ``w_plus`` (B, num_ws, w_dim), the latents that drew the images, is the encoder's regression
        target: its mean squared error times ``config.encoder_weight`` is queued as the term ``reference_encoder``
        (``pop_style_terms``). The style itself always comes from the pixels, as it will at use."""
        pred = self.encoder(images.to(self.encoder.head.weight.dtype))
        if self.training and w_plus is not None and self.config.encoder_weight > 0:
            if tuple(w_plus.shape) != tuple(pred.shape):
                raise ValueError(f"encode_style: w_plus must be {tuple(pred.shape)} for these images; got "
                                 f"{tuple(w_plus.shape)}")
            with torch.no_grad():  # the prior's statistics (momentum 0.99)
                flat = w_plus.detach().flatten(1).to(self.style_mean.dtype)
                self.style_mean.lerp_(flat.mean(0), 0.01)
                self.style_sq.lerp_(flat.square().mean(0), 0.01)
            term = self.config.encoder_weight * F.mse_loss(pred, w_plus.detach().to(pred.dtype))
            prev = self._style_terms.get("reference_encoder")
            self._style_terms["reference_encoder"] = term if prev is None else prev + term
        return pred.flatten(1)

    def pop_style_terms(self) -> dict[str, torch.Tensor]:
        """Trainer hook: the weighted terms ``encode_style`` queued since the last call (then cleared)."""
        terms, self._style_terms = self._style_terms, {}
        return terms

    def sample_style(self, batch: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """(batch, num_ws * w_dim) random references: one draw per group's mean from N(m, s^2), m and s the running
        mean and spread of the training references' codes (averaged over each group's layers), broadcast over the
        group's layers, as a sampled W code is. Before training: N(0, I)."""
        gi = self.generator_info
        mean = self.style_mean.view(gi.num_ws, gi.w_dim)
        std = (self.style_sq.view(gi.num_ws, gi.w_dim) - mean.square()).clamp_min(0).sqrt()
        out = mean.expand(batch, -1, -1).clone()
        for _, layers in self.groups:
            idx = list(layers)
            eps = torch.randn(batch, 1, gi.w_dim, generator=generator).to(mean)
            out[:, idx] = mean[idx].mean(0) + eps * std[idx].mean(0)
        return out.flatten(1)

    def group_slices(self) -> dict[str, slice]:
        """{group: its style columns} for groups of consecutive layers (the reference's codes of those layers)."""
        d = self.generator_info.w_dim
        return {name: slice(layers[0] * d, (layers[-1] + 1) * d) for name, layers in self.groups
                if list(layers) == list(range(layers[0], layers[-1] + 1))}

    def style_columns(self, attributes) -> list[int]:
        """The style columns of the groups that carry any of ``attributes`` (names)."""
        d, names = self.generator_info.w_dim, self.generator_info.attribute_names
        idx = [names.index(a) for a in attributes if a in names]
        return sorted({layer * d + k for g, (_, layers) in enumerate(self.groups)
                       if any(self.group_members[g, i] > 0 for i in idx) for layer in layers for k in range(d)})

    # ---- the call --------------------------------------------------------------------------------------------
    def forward(self, w_plus: torch.Tensor, *, target: torch.Tensor | None = None,
                style: torch.Tensor | None = None) -> torch.Tensor:
        """w_plus (B, L, D), target (B, n_attr) or None (NaN = keep), style (B, L * D) -> (B, L, D)."""
        if style is None:
            raise ConfigError("the lst mapper needs a reference: pass style=mapper.encode_style(reference_images) "
                              "(CLI: edit or sample-edits --reference REF)")
        gi = self.generator_info
        ref = style.to(w_plus.dtype).view(-1, gi.num_ws, gi.w_dim)
        if target is None:
            active = w_plus.new_ones(w_plus.shape[0], len(self.groups))
        else:
            asked = (~torch.isnan(target)).to(w_plus.dtype)                            # (B, n_attr)
            active = ((asked @ self.group_members.to(w_plus.dtype).T) > 0).to(w_plus.dtype)  # (B, n_groups)
        out = w_plus
        for g, ((_, layers), transfer) in enumerate(zip(self.groups, self.transfers)):
            idx = list(layers)
            x = w_plus[:, idx]
            moved = transfer(x, ref[:, idx])
            gate = active[:, g, None, None]
            out = out.index_copy(1, torch.tensor(idx, device=w_plus.device), x + gate * (moved - x))
        return out
