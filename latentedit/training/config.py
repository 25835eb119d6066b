"""The mapper trainer's config: ``TrainerConfig`` (how to train) and ``RunConfig`` (which mapper, its config, and
the trainer config), read from YAML/JSON and ``--set key=value`` overrides, validated field by field.

A config file has two sections::

    mapper:                 # fields of the plugin's config dataclass (latentedit plugins show NAME)
      hidden: 64
    trainer:                # fields of TrainerConfig (below)
      steps: 2000
      loss_weights: {attribute: 1.0, lpips: 0.5}
      losses: {lpips_net: alex}

``--set`` keys are ``section.field`` (``trainer.steps=10``, ``mapper.hidden=32``,
``trainer.loss_weights.lpips=0``) or a bare field name that exists in exactly one section (``steps=10``).
Unknown keys are errors that list the valid ones. Both configs are stored in every checkpoint.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latentedit.losses import LOSS_NAMES, LossSettings, resolve_loss_weights
from latentedit.config import ConfigError, FrozenConfig, parse_set_pairs
from latentedit.plugins.config import MapperConfig

TARGET_MODES = ("flips", "reference", "alternate")
DISCRIMINATOR_MODES = ("frozen", "joint")
JOINT_DISCRIMINATORS = ("single", "multiscale")
JOINT_ATTRIBUTE_JUDGES = ("discriminator", "classifier")
AMP_MODES = ("auto", "off", "bf16")
NOISE_MODES = ("const", "random", "none")

#: TrainerConfig fields that may change between a checkpoint and its resume (they do not change the trajectory)
#: fields that older versions wrote, -> the value they held when off (read and dropped; any other value is an error)
RETIRED_FIELDS: dict[str, Any] = {"intensity_judge": None}

RESUMABLE_CHANGES = ("steps", "log_interval", "sample_interval", "checkpoint_interval", "sample_count",
                     "max_nonfinite", "progress")


def _doc(default: Any, doc: str, **kw) -> Any:
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata={"doc": doc}, **kw)
    return field(default=default, metadata={"doc": doc}, **kw)


@dataclass(frozen=True)
class TrainerConfig(FrozenConfig):
    """How a trainable mapper is trained. Every field has a default; ``steps``/intervals may change on resume."""

    steps: int = _doc(10_000, "optimiser steps in total (a resumed run continues up to this count)")
    batch: int = _doc(8, "global batch (split evenly over DDP ranks)")
    lr: float = _doc(1e-4, "mapper learning rate (AdamW)")
    betas: tuple[float, float] = _doc((0.9, 0.99), "AdamW betas of the mapper")
    weight_decay: float = _doc(0.0, "AdamW weight decay of the mapper")
    ema_beta: float = _doc(0.999, "EMA of the mapper's weights: ema <- beta*ema + (1-beta)*live (0 = no averaging)")
    grad_clip: float = _doc(1.0, "clip the mapper's gradient norm to this (0 = off)")
    seed: int = _doc(0, "seeds the model init and every batch (batches are a pure function of seed and step)")
    truncation_psi: float = _doc(0.7, "truncation of sampled latents toward w_avg (1 = none)")
    mixing_prob: float = _doc(0.0, "probability that a sampled latent is style-mixed with a second one")
    latents: str | None = _doc(None, "W+ file or folder of W+ files (from `invert`) instead of sampling the "
                                     "generator")
    init_mapper: str | None = _doc(None, "a saved mapper file (mapper_ema.safetensors) of the same method and "
                                         "mapper config whose weights the run starts from (fine-tuning); a resumed "
                                         "run continues from its checkpoint instead")
    attributes: tuple[str, ...] = _doc((), "attribute names, classifier column order (empty: the classifier's "
                                           "output_names)")
    max_flips: int = _doc(1, "targets flip 1..max_flips random attributes of the source labels")
    targets: str = _doc("flips", "'flips': targets flip attributes of the source labels; 'reference': style "
                                 "mappers with encode_style transfer a reference sample's look: the target is the "
                                 "reference's labels and the mapper is called with target=None; 'alternate': "
                                 "flips on even steps, reference on odd steps")
    discriminator: str = _doc("frozen", "attribute discriminator: 'frozen' pretrained classifier or 'joint' "
                                        "(real/fake + classification heads trained with the mapper, R1 on real/fake)")
    d_lr: float = _doc(1e-4, "joint discriminator: learning rate")
    d_betas: tuple[float, float] = _doc((0.0, 0.99), "joint discriminator: Adam betas")
    d_channels: tuple[int, ...] = _doc((32, 64, 128), "joint discriminator: widths of its stride-2 conv blocks")
    d_input_size: int | None = _doc(None, "joint discriminator: image size it sees in px (default: the generator's "
                                          "resolution capped at 256)")
    joint_discriminator: str = _doc("single", "joint discriminator: 'single' (one scale) or 'multiscale' "
                                              "(pix2pixHD: d_scales discriminators at halving sizes, each with an "
                                              "attribute head, and a feature-matching loss for the mapper)")
    d_scales: int = _doc(2, "joint_discriminator=multiscale: number of scales (2 or 3)")
    d_feature_matching: float = _doc(1.0, "joint_discriminator=multiscale: weight of the feature-matching L1 "
                                          "between the discriminator's features of the edit and of its source")
    d_cls_weight: float = _doc(1.0, "joint discriminator: weight of its classification loss on real images")
    joint_attribute_judge: str = _doc("discriminator", "joint discriminator: what scores the mapper's 'attribute' "
                                                       "loss: 'discriminator' (its own attribute head, StarGAN / "
                                                       "ISF-GAN) or 'classifier' (the frozen pretrained classifier, "
                                                       "with its margin settings; the joint D then only judges "
                                                       "realism)")
    loss_weights: dict[str, float] = _doc({}, "overrides of the mapper's default_loss_weights() (0 = off)")
    losses: LossSettings = _doc(LossSettings(), "how loss networks are built (LPIPS net, identity embedder, ...)")
    amp: str = _doc("auto", "autocast: 'auto' (bf16 on CUDA, off on CPU), 'off' or 'bf16'")
    noise_mode: str = _doc("const", "synthesis noise: const, random or none")
    log_interval: int = _doc(10, "write a JSONL log line every N steps")
    sample_interval: int = _doc(500, "write a sample grid every N steps (0 = only at the end)")
    sample_count: int = _doc(4, "source images (columns) in sample grids")
    checkpoint_interval: int = _doc(500, "write checkpoint.pt every N steps (and always at the end)")
    max_nonfinite: int = _doc(5, "consecutive non-finite steps (each rolled back and skipped) before giving up")
    progress: bool = _doc(True, "tqdm progress bar on rank 0")

    def __post_init__(self):
        def bad(name, expected):
            raise ConfigError(f"TrainerConfig.{name}: expected {expected}; got {getattr(self, name)!r}")

        for name in ("steps", "batch", "log_interval"):
            if getattr(self, name) < 1:
                bad(name, "an int >= 1")
        for name in ("sample_interval", "checkpoint_interval", "max_nonfinite", "sample_count"):
            if getattr(self, name) < 0:
                bad(name, "an int >= 0")
        for name in ("lr", "d_lr"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                bad(name, "a finite float > 0")
        if not 0.0 <= self.ema_beta < 1.0:
            bad("ema_beta", "a float in [0, 1)")
        if self.grad_clip < 0 or self.weight_decay < 0 or self.d_cls_weight < 0:
            bad("grad_clip" if self.grad_clip < 0 else "weight_decay" if self.weight_decay < 0 else "d_cls_weight",
                "a float >= 0")
        if not 0.0 <= self.mixing_prob <= 1.0:
            bad("mixing_prob", "a probability in [0, 1]")
        if not 0.0 < self.truncation_psi <= 2.0:
            bad("truncation_psi", "a float in (0, 2]")
        if self.max_flips < 1:
            bad("max_flips", "an int >= 1")
        if self.discriminator not in DISCRIMINATOR_MODES:
            bad("discriminator", f"one of {DISCRIMINATOR_MODES}")
        if self.joint_discriminator not in JOINT_DISCRIMINATORS:
            bad("joint_discriminator", f"one of {JOINT_DISCRIMINATORS}")
        if self.joint_attribute_judge not in JOINT_ATTRIBUTE_JUDGES:
            bad("joint_attribute_judge", f"one of {JOINT_ATTRIBUTE_JUDGES}")
        if self.d_scales not in (2, 3):
            bad("d_scales", "2 or 3")
        if not (math.isfinite(self.d_feature_matching) and self.d_feature_matching >= 0):
            bad("d_feature_matching", "a finite float >= 0")
        if self.targets not in TARGET_MODES:
            bad("targets", f"one of {TARGET_MODES}")
        if self.amp not in AMP_MODES:
            bad("amp", f"one of {AMP_MODES}")
        if self.noise_mode not in NOISE_MODES:
            bad("noise_mode", f"one of {NOISE_MODES}")
        if not self.d_channels or any(c < 1 for c in self.d_channels):
            bad("d_channels", "a non-empty list of positive widths")
        if self.d_input_size is not None and (not isinstance(self.d_input_size, int) or self.d_input_size < 8):
            bad("d_input_size", "an integer of at least 8 (px), or null for the generator's resolution capped at 256")
        if not isinstance(self.loss_weights, Mapping):
            bad("loss_weights", f"a mapping of loss name -> weight over {', '.join(LOSS_NAMES)}")
        resolve_loss_weights({}, dict(self.loss_weights), source="TrainerConfig.loss_weights")
        object.__setattr__(self, "loss_weights", {k: float(v) for k, v in self.loss_weights.items()})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "config"):
        """As ``FrozenConfig.from_dict``; a retired field (``RETIRED_FIELDS``) at its old default is dropped, so
        that older checkpoints and mapper files still read."""
        data = dict(data) if isinstance(data, Mapping) else data
        if isinstance(data, dict):
            for name, default in RETIRED_FIELDS.items():
                if name in data and data[name] == default:
                    del data[name]
        return super().from_dict(data, source=source)

    def resolved_loss_weights(self, defaults: Mapping[str, float]) -> dict[str, float]:
        """The mapper's ``default_loss_weights()`` updated by ``loss_weights``."""
        return resolve_loss_weights(defaults, self.loss_weights, source="trainer.loss_weights")

    def trajectory_dict(self) -> dict[str, Any]:
        """The fields that define the training trajectory (a resume must match these exactly)."""
        return {k: v for k, v in self.to_dict().items() if k not in RESUMABLE_CHANGES}




@dataclass(frozen=True)
class RunConfig:
    """A training run: mapper plugin ``mapper_name``, its config ``mapper`` and the ``trainer`` config."""

    mapper_name: str
    mapper: MapperConfig
    trainer: TrainerConfig

    def to_dict(self) -> dict[str, Any]:
        return {"mapper_name": self.mapper_name, "mapper": self.mapper.to_dict(), "trainer": self.trainer.to_dict()}

    def trajectory_dict(self) -> dict[str, Any]:
        """What a checkpoint must match to be resumed (see ``TrainerConfig.trajectory_dict``)."""
        return {"mapper_name": self.mapper_name, "mapper": self.mapper.to_dict(),
                "trainer": self.trainer.trajectory_dict()}


SECTIONS = ("mapper", "trainer")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML (``.yaml``/``.yml``, needs PyYAML) or JSON file -> dict with sections ``mapper``/``trainer``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(f"{path}: reading YAML needs PyYAML (pip install pyyaml); or write the same "
                              "config as JSON") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    elif path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    else:
        raise ConfigError(f"{path}: expected a .yaml, .yml or .json config file; got suffix {path.suffix!r}")
    return {} if data is None else data


def _set_path(tree: dict, keys: list[str], value: Any, *, pair: str) -> None:
    node = tree
    for k in keys[:-1]:
        child = node.setdefault(k, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {pair!r}: {k!r} is a value, not a nested section")
        node = child
    node[keys[-1]] = value


def apply_overrides(data: Mapping[str, Any], pairs: Iterable[str], *, mapper_fields: Iterable[str]) -> dict:
    """``data`` (sections mapper/trainer) with ``key=value`` strings applied; values parsed as JSON when they parse.

    A bare key goes to the one section that has such a field (an error if none or both do).
    """
    out = {s: dict(data.get(s) or {}) for s in SECTIONS}
    out.update({k: v for k, v in data.items() if k not in SECTIONS})
    trainer_fields = [f.name for f in dataclasses.fields(TrainerConfig)]
    mapper_fields = list(mapper_fields)
    for key, value in parse_set_pairs(pairs, example="trainer.steps=100").items():
        pair = f"{key}={value}"
        parts = key.split(".")
        if parts[0] not in SECTIONS:
            owners = [s for s, names in (("mapper", mapper_fields), ("trainer", trainer_fields)) if parts[0] in names]
            if len(owners) != 1:
                every = [f"mapper.{n}" for n in mapper_fields] + [f"trainer.{n}" for n in trainer_fields]
                why = "is a field of both sections; write mapper.KEY or trainer.KEY" if owners else "is not a field"
                close = difflib.get_close_matches(key, every + mapper_fields + trainer_fields, n=1)
                raise ConfigError(f"--set {pair!r}: {parts[0]!r} {why}" + (f" (did you mean {close[0]!r}?)" if
                                  close else "") + f"; valid keys: {', '.join(every)}")
            parts = [owners[0]] + parts
        if len(parts) < 2:
            raise ConfigError(f"--set {pair!r}: name a field of the section, e.g. {parts[0]}.FIELD=VALUE")
        _set_path(out, parts, value, pair=pair)
    return out


def build_run_config(mapper_name: str, mapper_class: type, data: Mapping[str, Any] | None = None,
                     overrides: Iterable[str] = (), *, source: str = "config") -> RunConfig:
    """Validate ``data`` (+ ``overrides``) against ``mapper_class.config_class`` and ``TrainerConfig``."""
    data = dict(data or {})
    unknown = [k for k in data if k not in SECTIONS]
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key(s) {', '.join(map(repr, unknown))}; a config has the "
                          f"sections {', '.join(SECTIONS)} (mapper: fields of {mapper_class.config_class.__name__}, "
                          "trainer: fields of TrainerConfig)")
    cfg_cls = mapper_class.config_class
    data = apply_overrides(data, overrides, mapper_fields=[f.name for f in dataclasses.fields(cfg_cls)])
    overrides = list(overrides)
    if overrides:  # a bad value may come from the command line, not the file: name both
        source = f"{source} with --set {' --set '.join(overrides)}"
    mapper_cfg = cfg_cls.from_dict(data["mapper"], source=f"{source}: mapper (plugin '{mapper_name}')")
    trainer_cfg = TrainerConfig.from_dict(data["trainer"], source=f"{source}: trainer")
    if mapper_class.kind != "trainable":
        raise ConfigError(f"mapper '{mapper_name}' is {mapper_class.kind}-style, not trainable: fit it instead of "
                          "training it with the shared trainer")
    trainer_cfg.resolved_loss_weights(mapper_class.default_loss_weights())
    return RunConfig(mapper_name, mapper_cfg, trainer_cfg)
