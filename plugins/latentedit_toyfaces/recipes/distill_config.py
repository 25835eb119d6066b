"""The recipe of the toy-faces generator (``distill_toyfaces``): one frozen dataclass holding every field and
schedule, stored in each checkpoint so a run can be resumed, extended (``distill_phases``) and reproduced."""

from __future__ import annotations

from dataclasses import dataclass

from latentedit.config import FrozenConfig
from latentedit.stylegan2 import GeneratorConfig


# Fields of earlier versions whose options were tried, never shipped, and removed (the paired-flip loss and the
# adversarial term; docs/toyfaces_generator.md has their measurements): stored configs that hold them at their
# "off" values still load, anything else is refused.
RETIRED_FIELDS: dict[str, object] = {
    "pair_weight": 0.0, "pair_from_step": None, "pair_attributes": None,
    "adv_weight": 0.0, "adv_from_step": None, "adv_lr": None, "adv_channels": None, "adv_r1_gamma": None,
}


def without_retired(data: dict, *, source: str) -> dict:
    """``data`` without the retired fields; ValueError when one of them was switched on."""
    on = [k for k, off in RETIRED_FIELDS.items() if k in data and off is not None and data[k] != off]
    if on:
        raise ValueError(f"{source}: {', '.join(f'{k}={data[k]!r}' for k in on)}: this option was removed (it was "
                         "never shipped); the run cannot be continued or reproduced by this version")
    return {k: v for k, v in data.items() if k not in RETIRED_FIELDS}


@dataclass(frozen=True)
class DistillConfig(FrozenConfig):
    """Everything that defines a run; stored in every checkpoint and in the exported generator."""

    resolution: int = 64
    w_dim: int = 128
    mapping_layers: int = 4
    mapping_lr_mul: float = 1.0
    channels: tuple[int, ...] = (256, 256, 128, 64, 32)
    batch_size: int = 16
    lr: float = 2e-3
    betas: tuple[float, float] = (0.9, 0.99)
    ema_beta: float = 0.998
    attr_weight: float = 4.0
    grad_weight: float = 1.0
    seed: int = 0
    prior: bool = True
    per_attribute_from_step: int = 0  # the first shipped generator (session 1-3) switched at 14_344
    lr_decay_from_step: int = 19_000
    lr_decay_to_step: int = 30_000
    lr_final_ratio: float = 0.05
    detail_from_step: int = 0  # 0 = off (the shipped generator has no detail phase; see the module docstring)
    detail_lr: float = 1e-3
    detail_decay_to_step: int = 42_000
    smile_weight: float = 12.0
    smile_boost_from_step: int = 0  # -1 = the smile boost only in the detail phase; >= 0: from that step on
    readout_weight: float = 10.0  # 0 = off (the first shipped generator had none)
    readout_from_step: int = 0
    readout_lr: float = 1e-2
    readout_factors: tuple[str, ...] = ()  # factors the readout regresses (() = all of z)
    teacher_weight: float = 0.0  # 0 = off; > 0: the teacher's factor reading of G(z) must match the render's
    teacher_from_step: int = 0
    teacher_files: tuple[str, ...] = ()  # judge files (factors / attributes) trained apart from the evaluation judges
    teacher_attribute_weight: float = 4.0  # a factors teacher's five attribute columns count this many times more

    def __post_init__(self):
        from latentedit_toyfaces.factors import FACTOR_NAMES

        unknown = [f for f in self.readout_factors if f not in FACTOR_NAMES]
        if unknown:
            raise ValueError(f"readout_factors must name toy-faces factors ({', '.join(FACTOR_NAMES)}); got "
                             f"{unknown!r}")
        if self.teacher_weight > 0 and not self.teacher_files:
            raise ValueError("teacher_weight > 0 needs teacher_files (judges trained with other seeds than the "
                             "evaluation judges: `latentedit toyfaces train-judge factors --seed 101 --out FILE`)")

    @property
    def total_steps(self) -> int:
        """The step at which the recipe's schedule ends (the default ``--steps``)."""
        return max(self.lr_decay_to_step, self.detail_decay_to_step if self.detail_from_step else 0)

    def in_detail_phase(self, step: int) -> bool:
        return bool(self.detail_from_step) and step >= self.detail_from_step

    def readout_on(self, step: int) -> bool:
        return self.readout_weight > 0 and step >= self.readout_from_step

    def teacher_on(self, step: int) -> bool:
        return self.teacher_weight > 0 and step >= self.teacher_from_step

    def smile_boost(self, step: int) -> float:
        """Factor on the smile change map at ``step``: ``smile_weight / attr_weight`` in the detail phase and from
        ``smile_boost_from_step`` (when >= 0) on, else 1."""
        boosted = self.in_detail_phase(step) or 0 <= self.smile_boost_from_step <= step
        return self.smile_weight / self.attr_weight if boosted else 1.0

    def lr_at(self, step: int) -> float:
        """Learning rate of training step ``step`` (constant, then a cosine down to ``lr * lr_final_ratio``; in the
        detail phase a second cosine from ``detail_lr`` down to the same floor)."""
        import math

        floor = self.lr * self.lr_final_ratio
        if self.in_detail_phase(step):
            span = max(1, self.detail_decay_to_step - self.detail_from_step)
            t = min((step - self.detail_from_step) / span, 1.0)
            return floor + (self.detail_lr - floor) * 0.5 * (1 + math.cos(math.pi * t))
        span = max(1, self.lr_decay_to_step - self.lr_decay_from_step)
        t = min(max((step - self.lr_decay_from_step) / span, 0.0), 1.0)
        return self.lr * (self.lr_final_ratio + (1 - self.lr_final_ratio) * 0.5 * (1 + math.cos(math.pi * t)))

    def generator_config(self) -> GeneratorConfig:
        from latentedit_toyfaces.factors import NUM_FACTORS

        return GeneratorConfig(resolution=self.resolution, z_dim=NUM_FACTORS, w_dim=self.w_dim,
                               mapping_layers=self.mapping_layers, channels=tuple(self.channels),
                               mapping_lr_mul=self.mapping_lr_mul)
