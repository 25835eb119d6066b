"""``isf``: ISF-GAN's implicit style function (Liu et al., TMM 2022) as a latentedit mapper.

    w_plus (B, L, D), target (B, n_attr), z (B, z_dim)  ->  w_plus' (B, L, D)

The noise ``z`` and the attribute code ``d`` (from ``target``) drive a condition MLP with one head per W+ layer;
each layer of ``w_plus`` is re-normalised by AdaLN ``(1 + gamma) * LN(w) + beta`` and passed through an output MLP
(see ``latentedit_isf.network``). Different ``z`` give different edits for the same target (multimodal); every
column of ``target`` is edited in the same pass (multi-attribute).

``target`` columns: 1 = attribute present, 0 = absent, fractions allowed; **NaN = keep this attribute as it is**
(with ``keep_code``, the code carries an 'edit' mask beside the values, and the trainer asks kept attributes to stay
as the source has them). ``z=None`` means ``z = 0`` (deterministic: the centre of the noise distribution); pass
``mapper.sample_noise(B)`` draws for diverse outputs. ``layer_masks`` restrict which W+ layers an attribute may
change; the other layers are copied back from the input (ISF-GAN's ``--use_post``). ``shared_delta`` adds one
change (the mean over layers) to every layer, so edits of a W code stay in W. ``relative_delta`` subtracts the
network's own output for the keep-everything code (values 0, edit mask 0) from its output for the target's code:
a part of the change that does not depend on the target cancels, so asked to keep everything the mapper returns
its input exactly. (Without it, the toy mapper's first few hundred steps learned one shift of every face, of the
size of W's whole spread, towards the majority labels: the cheapest way down the attribute loss.)
"""

from __future__ import annotations

import torch

from latentedit.plugins import ConfigError, Mapper
from latentedit.plugins.targets import keep_unchanged
from latentedit_isf.config import ISFConfig
from latentedit_isf.network import AdaLN, ConditionNetwork, output_mlp

#: ISF-GAN's weights from ``styleganv2/train.sh`` on latentedit's loss names. ``identity`` is 0 as in ISF
#: (``lambda_reid 0``): a domain with a trusted face embedder may switch it on (the toy recipe does).
ISF_LOSS_WEIGHTS = {
    "attribute": 2.0,        # lambda_cls 2
    "adversarial": 1.0,      # the non-saturating GAN term, weight 1 in solver.py
    "r1": 1.0,               # lambda_r1 1
    "lpips": 1.0,            # lambda_lpips 1 (edited vs source image)
    "lpips_cycle": 1.0,      # lambda_lpips_cyc (default 1)
    "latent_cycle": 1.0,     # lambda_lat_cyc 1
    "image_cycle": 1.0,      # lambda_src_cyc 1
    "diversity": 2.0,        # lambda_ds 2, decayed over trainer.losses.diversity_decay_steps
    "neighbourhood": 0.01,   # lambda_nb 0.01
    "identity": 0.0,         # lambda_reid 0
}


#: ISF-GAN's optimisation recipe (``core/solver.py``, ``train.sh``) on the shared trainer's fields. ISF uses Adam with
#: weight decay 1e-5 and a warm-up + cosine schedule (5000 steps, lr_min 5e-6); the trainer has AdamW and a constant
#: rate. ``mixing_prob`` 0.875: ISF trains on each latent plus 7 random layer-mixes of it.
ISF_TRAINER_RECIPE = {
    "steps": 50_000,
    "batch": 16,                      # 4 per GPU x 4 GPUs
    "lr": 1e-5,
    "betas": (0.0, 0.99),
    "weight_decay": 1e-5,
    "ema_beta": 0.999,                # a real EMA copy (ISF's "EMA" discriminator was the live one)
    "grad_clip": 1.0,
    "mixing_prob": 0.875,
    "max_flips": 4,                   # random multi-hot targets over ISF's 4 attributes
    "discriminator": "joint",         # image discriminator with real/fake and classification heads, R1 on real/fake
    "d_lr": 1e-5,
    "d_betas": (0.0, 0.99),
    "losses": {"diversity_decay_steps": 50_000},   # ISF parses ds_iter but never decays; we do
}


class ISFMapper(Mapper):
    """ISF-GAN's implicit style function; trainable, takes noise. See the module docstring."""

    config_class = ISFConfig
    kind = "trainable"
    takes_noise = True
    #: files record this name even when the class is used directly (not through the registry), so
    #: ``load_mapper_file`` finds the ``isf`` entry point again
    plugin_name = "isf"

    def __init__(self, config: ISFConfig | None, generator_info):
        super().__init__(config, generator_info)
        cfg, gi = self.config, self.generator_info
        if gi.n_attr == 0:
            raise ConfigError("ISFMapper needs at least one attribute: GeneratorInfo(attribute_names=(...)) is empty")
        unknown = [n for n, _ in cfg.layer_masks if n not in gi.attribute_names]
        bad = [(n, i) for n, layers in cfg.layer_masks for i in layers if not 0 <= i < gi.num_ws]
        if unknown or bad:
            raise ConfigError(f"ISFConfig.layer_masks: attributes must be among {list(gi.attribute_names)} and layers "
                              f"in [0, {gi.num_ws}); found unknown attributes {unknown}, bad layers {bad}")
        hidden = cfg.hidden_dim or gi.w_dim
        code_dim = gi.n_attr * (2 if cfg.keep_code else 1)
        self.condition = ConditionNetwork(cfg.z_dim + code_dim, hidden, gi.num_ws, trunk_blocks=cfg.cond_layers,
                                          head_layers=cfg.head_layers, shared_heads=cfg.shared_heads)
        self.adaln = AdaLN(hidden, gi.w_dim)
        self.out = output_mlp(gi.w_dim, hidden, cfg.out_layers)
        if cfg.residual:
            with torch.no_grad():
                self.out[-1].weight.mul_(cfg.residual_init_scale)
                self.out[-1].bias.zero_()
        allowed = torch.ones(gi.n_attr, gi.num_ws)  # (n_attr, L): 1 where attribute a may change layer l
        for name, layers in cfg.layer_masks:
            row = gi.attribute_names.index(name)
            allowed[row].zero_()
            allowed[row, list(layers)] = 1.0
        self.register_buffer("layer_allowed", allowed, persistent=False)

    @classmethod
    def default_loss_weights(cls) -> dict[str, float]:
        return dict(ISF_LOSS_WEIGHTS)

    # ---- helpers for callers and the trainer ---------------------------------------------------------------
    def sample_noise(self, batch: int, *, generator: torch.Generator | None = None,
                     device: torch.device | str | None = None) -> torch.Tensor:
        """Standard-normal noise (batch, z_dim)."""
        z = torch.randn(batch, self.config.z_dim, generator=generator)
        return z.to(device if device is not None else self.layer_allowed.device)

    @classmethod
    def default_trainer_config(cls) -> dict:
        """ISF-GAN's recipe as the shared trainer's ``trainer`` section (``TrainerConfig`` fields), quirks fixed:
        a real EMA of the mapper, the diversity weight decayed to 0 over the run, R1 on the real/fake head of the
        joint discriminator (the trainer's only R1), and every hyperparameter stored with the result."""
        return dict(ISF_TRAINER_RECIPE)

    def condition_target(self, target: torch.Tensor, source: torch.Tensor, *, keep_u: torch.Tensor | None = None,
                         generator: torch.Generator | None = None) -> torch.Tensor:
        """Trainer hook: the target to call the mapper with, given the full ``target`` and the ``source`` labels
        (both (B, n_attr) in {0, 1}). With ``keep_code``, each attribute the target leaves unchanged becomes NaN
        ('keep') with probability ``keep_prob``, so the mapper learns both forms; the loss still compares against
        the full target. ``keep_u`` (B, n_attr) uniform in [0, 1) (the trainer's draw), else drawn here."""
        if not self.config.keep_code:
            return target
        u = torch.rand(target.shape, generator=generator) if keep_u is None else keep_u
        return keep_unchanged(target, source, u, self.config.keep_prob)

    # ---- the call ------------------------------------------------------------------------------------------
    def _code(self, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """target (B, n_attr) -> (code (B, C), edited (B, n_attr) bool)."""
        edited = ~torch.isnan(target)
        values = torch.nan_to_num(target, nan=0.0).clamp(0.0, 1.0)
        if self.config.keep_code:
            return torch.cat([values, edited.to(values.dtype)], dim=1), edited
        if not bool(edited.all()):
            raise ValueError("ISFMapper with keep_code=False cannot keep attributes: target has NaN columns; give "
                             "a value (0 or 1) for every attribute, or use a mapper trained with keep_code=True")
        return values, edited

    def forward(self, w_plus: torch.Tensor, *, target: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """w_plus (B, L, D), target (B, n_attr) (NaN = keep), z (B, z_dim) or None (= 0) -> (B, L, D)."""
        code, edited = self._code(target.to(w_plus.dtype))
        if z is None:
            z = w_plus.new_zeros(w_plus.shape[0], self.config.z_dim)
        z = z.to(w_plus.dtype)
        s = self.condition(torch.cat([z, code], dim=1))                       # (B, L, H)
        delta_or_w = self.out(self.adaln(w_plus, s))                          # (B, L, D)
        if self.config.relative_delta:  # minus the same network asked to keep everything: no target-blind change
            s_keep = self.condition(torch.cat([z, torch.zeros_like(code)], dim=1))
            delta_or_w = delta_or_w - self.out(self.adaln(w_plus, s_keep))
        if self.config.shared_delta:                                          # one change for every layer
            delta_or_w = delta_or_w.mean(dim=1, keepdim=True).expand_as(delta_or_w)
        out = w_plus + delta_or_w if self.config.residual else delta_or_w
        if self.config.layer_masks and (self.config.masks_in_training or not self.training):
            out = self.copy_untouched_layers(out, w_plus, edited)
        return out

    def copy_untouched_layers(self, out: torch.Tensor, w_plus: torch.Tensor, edited: torch.Tensor) -> torch.Tensor:
        """Keep ``out`` only on layers some edited attribute may change; elsewhere copy ``w_plus`` (all (B, L, D);
        edited (B, n_attr) bool)."""
        allowed = (edited.to(out.dtype) @ self.layer_allowed.to(out.dtype)) > 0          # (B, L)
        return torch.where(allowed.unsqueeze(-1), out, w_plus)
