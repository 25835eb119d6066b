"""``ISFConfig``: the architecture of ISF-GAN's implicit style function (stored in every saved mapper file).

Training hyperparameters live in the shared trainer's ``TrainerConfig`` (also stored in every result file, under
``extra["trainer"]``); ``ISFMapper.default_trainer_config()`` gives ISF-GAN's recipe for it, with the reference's
quirks fixed (see the plugin README). Defaults here follow ISF-GAN's StyleGAN2 model except:

- ``residual=True`` (ISF: ``use_residual 0``, an absolute w+): the output is ``w + Δ`` with a small initial Δ, so an
  untrained or weakly conditioned mapper leaves the face alone and edits stay local; ``residual=False`` is the
  reference behaviour.
- ``keep_code=True``: the code d carries an 'edit this attribute' mask beside the target values, so a NaN target
  column means 'keep it as it is' and callers need not know the source's labels (ISF's d holds values only).
- ``masks_in_training=True``: ``layer_masks`` also apply in training (ISF: at test time only).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from latentedit.plugins import ConfigError, MapperConfig


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
    shared_delta: bool = field(default=False, metadata={
        "doc": "residual only: average the per-layer change over the W+ layers and add that one change to every "
               "layer, so a W source stays in W (edits along the generator's W manifold, like a direction; "
               "ISF: per-layer)"})
    relative_delta: bool = field(default=False, metadata={
        "doc": "residual with keep_code only: the change is the network's output for the target's code minus its "
               "output for the keep-everything code, so no part of it is blind to the target (keep all = identity)"})
    layer_masks: tuple[tuple[str, tuple[int, ...]], ...] = field(default=(), metadata={
        "doc": "per-attribute W+ layers an edit may change, e.g. [[\"smile\", [4, 5]]]; layers outside the union "
               "of the edited attributes' masks are copied back from the input (ISF --use_post). Attributes "
               "not listed may change every layer"})
    masks_in_training: bool = field(default=True, metadata={
        "doc": "apply layer_masks in training too (ISF: test time only)"})
    keep_prob: float = field(default=0.5, metadata={
        "doc": "training (condition_target hook): chance that an attribute the target leaves unchanged is given "
               "as NaN ('keep') instead of its value, so both forms work at edit time"})

    def __post_init__(self):
        ints = {"z_dim": (self.z_dim, 1), "hidden_dim": (self.hidden_dim, 0), "cond_layers": (self.cond_layers, 0),
                "head_layers": (self.head_layers, 1), "out_layers": (self.out_layers, 1)}
        bad = [f"{k}={v!r} (expected an int >= {lo})" for k, (v, lo) in ints.items()
               if isinstance(v, bool) or not isinstance(v, int) or v < lo]
        if not 0.0 <= self.keep_prob <= 1.0:
            bad.append(f"keep_prob={self.keep_prob!r} (expected a probability in [0, 1])")
        if not self.residual_init_scale >= 0.0:
            bad.append(f"residual_init_scale={self.residual_init_scale!r} (expected a number >= 0)")
        if self.shared_delta and not self.residual:
            bad.append("shared_delta=True needs residual=True (a change to share)")
        if self.relative_delta and not (self.residual and self.keep_code):
            bad.append("relative_delta=True needs residual=True and keep_code=True (a keep-everything code)")
        names = [n for n, _ in self.layer_masks]
        if len(set(names)) != len(names):
            bad.append(f"layer_masks names an attribute twice: {names}")
        if bad:
            raise ConfigError("ISFConfig: " + "; ".join(bad))

    def masks_dict(self) -> dict[str, tuple[int, ...]]:
        """``layer_masks`` as ``{attribute: layers}``."""
        return {name: tuple(layers) for name, layers in self.layer_masks}
