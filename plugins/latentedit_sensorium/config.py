"""``SensoriumConfig``: the architecture of the Sensorium-style style encoder and style-modulated mapper.

Stored in every saved mapper file. Training hyperparameters of the reference-transfer loop live in
``latentedit_sensorium.training.ReferenceTrainConfig``; those of the shared trainer in its ``TrainerConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from latentedit.plugins import ConfigError, MapperConfig


@dataclass(frozen=True)
class SensoriumConfig(MapperConfig):
    # ---- style ----------------------------------------------------------------------------------------------
    style_dim: int = field(default=32, metadata={
        "doc": "width of the style vector (split into equal chunks, one per attribute group, when split_groups)"})
    split_groups: bool = field(default=True, metadata={
        "doc": "one style chunk per attribute group, each driving its own edit branch (mixing per group); "
               "false: one global style vector and one branch"})
    groups: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), metadata={
        "doc": "attribute groups, e.g. [[\"eyes\", [\"glasses\"]], [\"mouth\", [\"smile\"]]]; empty = one group per "
               "attribute (every attribute must be in exactly one group)"})
    # ---- style encoder (image -> style) ---------------------------------------------------------------------
    encoder_channels: tuple[int, ...] = field(default=(16, 32, 64), metadata={
        "doc": "channels of the encoder's residual stages (each stage halves the resolution)"})
    encoder_input: int = field(default=64, metadata={
        "doc": "references are resized to this side before encoding (0 = use them as given)"})
    encoder_coords: bool = field(default=True, metadata={
        "doc": "feed y/x coordinate channels to the encoder (CoordConv), so pooled features keep positions"})
    encoder_norm: bool = field(default=False, metadata={
        "doc": "He-initialised convolutions and a LayerNorm on the pooled features (without it, the pooled "
               "features of different faces are nearly equal at the start and the encoder learns very slowly)"})
    encoder_pool: str = field(default="gap", metadata={
        "doc": "pooling of the encoder's last feature map: 'gap' (global average, as Sensorium) or 'grid' (4 x 4 "
               "cells flattened, so local attributes such as the mouth's curve stay readable)"})
    encoder_lr_mul: float = field(default=1.0, metadata={
        "doc": "the style encoder's and attribute head's learning rate as a multiple of the trainer's lr (the "
               "shared trainer reads it through lr_multipliers())"})
    # ---- mapper (w_plus, style -> w_plus') ------------------------------------------------------------------
    hidden_dim: int = field(default=0, metadata={"doc": "width of the modulated MLP (0 = w_dim)"})
    mod_layers: int = field(default=2, metadata={"doc": "modulated/demodulated linear layers per branch"})
    demodulate: bool = field(default=True, metadata={"doc": "StyleGAN2 weight demodulation in the modulated layers"})
    residual_init_scale: float = field(default=0.1, metadata={
        "doc": "scale of the output layer's initial weights (small: the mapper starts near the identity)"})
    layer_masks: tuple[tuple[str, tuple[int, ...]], ...] = field(default=(), metadata={
        "doc": "per-group W+ layers its branch may change, e.g. [[\"mouth\", [2, 3]]]; groups not listed may "
               "change every layer"})
    reference_code: bool = field(default=False, metadata={
        "doc": "reference transfer (target=None) is asked as a target edit: a linear attribute head reads the "
               "reference's attributes from the style (each group from its own chunk), a linear reader reads the "
               "source's from its latent, and the attributes where they differ are set to the reference's values "
               "(the rest kept), with the style for the look; false: the style alone must say which way to move "
               "(the first shipped recipe)"})
    attribute_head_weight: float = field(default=1.0, metadata={
        "doc": "weight of the attribute head's BCE against the judge's labels of the encoded image (a trainer "
               "term 'style_attribute'; used with reference_code)"})
    keep_prob: float = field(default=0.0, metadata={
        "doc": "training (condition_target hook): chance that an attribute a target edit leaves unchanged is given "
               "as NaN (keep) instead of its value, as edits are asked at use; with reference_code, a reference "
               "transfer marks as edited only the attributes where the reference and the source differ, so 1.0 "
               "trains target edits in the same form"})
    relative_delta: bool = field(default=False, metadata={
        "doc": "the change is the branches' output for the code minus their output for the keep-everything code "
               "(as the isf mapper's): no part of a change can ignore what is asked, and keep-all returns the "
               "input exactly"})
    kl_weight: float = field(default=0.01, metadata={
        "doc": "weight of KL(q(style|image) || N(0, I)); in the shared trainer it is applied as a gradient on the "
               "encoder's mean/log-variance inside encode_style (no LOSS_NAMES entry exists for it)"})

    def __post_init__(self):
        ints = {"style_dim": (self.style_dim, 1), "hidden_dim": (self.hidden_dim, 0),
                "mod_layers": (self.mod_layers, 1), "encoder_input": (self.encoder_input, 0)}
        bad = [f"{k}={v!r} (expected an int >= {lo})" for k, (v, lo) in ints.items()
               if isinstance(v, bool) or not isinstance(v, int) or v < lo]
        if not self.encoder_channels or any(not isinstance(c, int) or c < 1 for c in self.encoder_channels):
            bad.append(f"encoder_channels={self.encoder_channels!r} (expected a non-empty list of ints >= 1)")
        if not self.residual_init_scale >= 0.0:
            bad.append(f"residual_init_scale={self.residual_init_scale!r} (expected a number >= 0)")
        if self.encoder_pool not in ("gap", "grid"):
            bad.append(f"encoder_pool={self.encoder_pool!r} (expected 'gap' or 'grid')")
        if not 0.0 <= self.keep_prob <= 1.0:
            bad.append(f"keep_prob={self.keep_prob!r} (expected a probability in [0, 1])")
        if not self.encoder_lr_mul > 0.0:
            bad.append(f"encoder_lr_mul={self.encoder_lr_mul!r} (expected a number > 0)")
        if not self.attribute_head_weight >= 0.0:
            bad.append(f"attribute_head_weight={self.attribute_head_weight!r} (expected a number >= 0)")
        if not self.kl_weight >= 0.0:
            bad.append(f"kl_weight={self.kl_weight!r} (expected a number >= 0)")
        names = [n for n, _ in self.groups]
        if len(set(names)) != len(names):
            bad.append(f"groups names a group twice: {names}")
        members = [a for _, attrs in self.groups for a in attrs]
        if len(set(members)) != len(members):
            bad.append(f"groups lists an attribute in two groups: {members}")
        if bad:
            raise ConfigError("SensoriumConfig: " + "; ".join(bad))

    def group_table(self, attribute_names: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The attribute groups for a generator's ``attribute_names`` (one per attribute when ``groups`` is empty),
        checked: every attribute in exactly one group, no unknown attribute."""
        if not self.groups:
            return tuple((a, (a,)) for a in attribute_names)
        listed = {a for _, attrs in self.groups for a in attrs}
        unknown = sorted(listed - set(attribute_names))
        missing = [a for a in attribute_names if a not in listed]
        if unknown or missing:
            raise ConfigError(f"SensoriumConfig.groups must cover the attributes {list(attribute_names)} exactly "
                              f"once; unknown: {unknown}, not in any group: {missing}. Fix mapper.groups")
        return tuple((n, tuple(attrs)) for n, attrs in self.groups)
