"""``ISFConfig``: the architecture of ISF-GAN's implicit style function plus the training hyperparameters the
shared trainer reads. Everything here is written into every saved mapper file (``Mapper.save`` stores the config),
so a checkpoint carries its own hyperparameters — ISF-GAN's checkpoints do not, and must be re-run with matching
CLI flags.

Defaults follow ISF-GAN's StyleGAN2 recipe (``styleganv2/train.sh`` and ``core/solver.py``) except where noted:

- ``residual=True`` (ISF: ``use_residual 0``, an absolute w+): the output is ``w + Δ`` with a small initial Δ, so an
  untrained or weakly conditioned mapper leaves the face alone and edits stay local; set ``residual=False`` for the
  reference behaviour.
- ``ema_decay=0.999`` is a *real* EMA of the mapper (and ``d_ema_decay`` of the discriminator when > 0): ISF-GAN's
  "EMA discriminator" is the same object as the live one.
- ``diversity_decay_steps=total_steps``: the diversity weight decays linearly to 0 (StarGAN v2's ``ds_iter``); ISF-GAN
  parses ``ds_iter`` but never applies it (0 reproduces that).
- ``r1_target="real_fake"``: the R1 penalty on the real/fake head; ISF-GAN takes it on the classifier logits
  (``"classifier"`` reproduces that).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from latentedit.plugins import ConfigError, MapperConfig

R1_TARGETS = ("real_fake", "classifier")


@dataclass(frozen=True)
class ISFConfig(MapperConfig):
    # ---- architecture -------------------------------------------------------------------------------------
    z_dim: int = field(default=64, metadata={"doc": "width of the noise z (ISF rnd_dim 64)"})
    hidden_dim: int = field(default=0, metadata={"doc": "width of the condition MLP and heads (0 = w_dim; ISF: 512)"})
    cond_layers: int = field(default=3, metadata={"doc": "[LayerNorm, Linear, ReLU] blocks after the input Linear"})
    head_layers: int = field(default=3, metadata={"doc": "Linear layers per W+ condition head (ReLU between)"})
    shared_heads: bool = field(default=False, metadata={"doc": "one head for every W+ layer (ISF: unshared)"})
    out_layers: int = field(default=3, metadata={"doc": "output MLP: (out_layers-1) x [LN, Linear, ReLU] + [LN, "
                                                        "Linear]"})
    keep_code: bool = field(default=True, metadata={
        "doc": "append an 'edit this attribute' mask to the code d, so a NaN target column means 'keep it' "
               "(ISF's d has target values only)"})
    residual: bool = field(default=True, metadata={"doc": "output w + Δ (ISF: false, absolute w+)"})
    residual_init_scale: float = field(default=0.1, metadata={
        "doc": "scale of the last layer's initial weights when residual (small: starts near identity)"})
    layer_masks: tuple[tuple[str, tuple[int, ...]], ...] = field(default=(), metadata={
        "doc": "per-attribute W+ layers an edit may change, e.g. [[\"smile\", [4, 5]]]; layers outside the union "
               "of the edited attributes' masks are copied back from the input (ISF --use_post). Attributes "
               "not listed may change every layer"})
    masks_in_training: bool = field(default=True, metadata={
        "doc": "apply layer_masks in training too (ISF: test time only)"})
    # ---- training hyperparameters (read by the shared trainer; stored in every checkpoint) -----------------
    lr: float = field(default=1e-5, metadata={"doc": "Adam learning rate (ISF 1e-5)"})
    betas: tuple[float, float] = field(default=(0.0, 0.99), metadata={"doc": "Adam betas (ISF (0, 0.99))"})
    weight_decay: float = field(default=1e-5, metadata={"doc": "Adam weight decay (ISF 1e-5, hard-coded there)"})
    warmup_steps: int = field(default=5000, metadata={"doc": "linear warm-up before the cosine schedule"})
    lr_min: float = field(default=5e-6, metadata={"doc": "cosine schedule floor"})
    total_steps: int = field(default=50000, metadata={"doc": "training iterations (ISF 50000)"})
    batch_size: int = field(default=16, metadata={"doc": "latents per step (ISF 4 per GPU x 4 GPUs)"})
    grad_clip: float = field(default=1.0, metadata={"doc": "gradient-norm clip (0 = off)"})
    ema_decay: float = field(default=0.999, metadata={"doc": "EMA of the mapper's weights (a real copy)"})
    d_ema_decay: float = field(default=0.0, metadata={"doc": "EMA of the discriminator (0 = none; ISF's was fake)"})
    diversity_decay_steps: int = field(default=50000, metadata={
        "doc": "diversity weight decays linearly to 0 over this many steps (0 = constant, as ISF in effect)"})
    r1_target: str = field(default="real_fake", metadata={"doc": "R1 on 'real_fake' logits or 'classifier' (ISF)"})
    attribute_pos_weight: tuple[float, ...] = field(default=(), metadata={
        "doc": "BCE pos_weight per attribute (empty = none; ISF CelebA: 1.26, 5.31, 6.66, 0.37)"})
    edit_fraction: float = field(default=0.5, metadata={
        "doc": "training targets: chance that each attribute is asked to flip (others are kept)"})

    def __post_init__(self):
        ints = {"z_dim": (self.z_dim, 1), "hidden_dim": (self.hidden_dim, 0), "cond_layers": (self.cond_layers, 0),
                "head_layers": (self.head_layers, 1), "out_layers": (self.out_layers, 1),
                "warmup_steps": (self.warmup_steps, 0), "total_steps": (self.total_steps, 1),
                "batch_size": (self.batch_size, 1), "diversity_decay_steps": (self.diversity_decay_steps, 0)}
        bad = [f"{k}={v!r} (expected an int >= {lo})" for k, (v, lo) in ints.items()
               if isinstance(v, bool) or not isinstance(v, int) or v < lo]
        for name in ("ema_decay", "d_ema_decay", "edit_fraction"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                bad.append(f"{name}={v!r} (expected a number in [0, 1])")
        if self.r1_target not in R1_TARGETS:
            bad.append(f"r1_target={self.r1_target!r} (expected one of {R1_TARGETS})")
        if any(p <= 0 for p in self.attribute_pos_weight):
            bad.append(f"attribute_pos_weight={self.attribute_pos_weight!r} (expected positive numbers)")
        names = [n for n, _ in self.layer_masks]
        if len(set(names)) != len(names):
            bad.append(f"layer_masks names an attribute twice: {names}")
        if bad:
            raise ConfigError("ISFConfig: " + "; ".join(bad))

    def masks_dict(self) -> dict[str, tuple[int, ...]]:
        """``layer_masks`` as ``{attribute: layers}``."""
        return {name: tuple(layers) for name, layers in self.layer_masks}
