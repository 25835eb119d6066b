"""Continuing a finished distillation run with a later phase of its recipe (``train-generator --extend-from``).

A run's config is its whole recipe, and ``--resume`` refuses a checkpoint written by another config. A later phase
(detail, readout, teachers) is a change of config that only acts from some step on, so a checkpoint at step
``s`` of the old config is also a checkpoint at step ``s`` of the new one when both configs make the same steps
before ``s``. ``extension_conflicts`` checks exactly that (static fields equal, every schedule identical on
``0..s-1``); ``load_for_extension`` then restores the state, tolerating modules the old recipe did not have yet
(the readout head and its optimiser keep their fresh initialisation).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from latentedit.training.checkpoint import CheckpointStateError

# Fields that act through the schedules below; every other field must be equal.
SCHEDULE_FIELDS = frozenset({
    "per_attribute_from_step", "lr", "lr_decay_from_step", "lr_decay_to_step", "lr_final_ratio",
    "detail_from_step", "detail_lr", "detail_decay_to_step", "smile_weight", "smile_boost_from_step",
    "readout_weight", "readout_from_step", "readout_lr", "readout_factors",
    "teacher_weight", "teacher_from_step", "teacher_files", "teacher_attribute_weight",
})


def _schedule(cfg, step: int) -> tuple:
    """Everything the config decides about training step ``step``."""
    readout = cfg.readout_on(step) and (cfg.readout_weight, cfg.readout_lr, cfg.readout_factors)
    teacher = cfg.teacher_on(step) and (cfg.teacher_weight, tuple(cfg.teacher_files), cfg.teacher_attribute_weight)
    return (step >= cfg.per_attribute_from_step, round(cfg.lr_at(step), 12), cfg.smile_boost(step),
            cfg.in_detail_phase(step), readout, teacher)


def _read_state(path) -> dict:
    """The checkpoint at ``path`` (tensors only, ``weights_only``), or CheckpointStateError naming the file."""
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
        json.loads(state["config"])  # the recipe and the step must be readable too
        int(state["step"])
    except Exception as exc:  # torch raises several types for damaged files
        raise CheckpointStateError(f"{path}: not a readable distillation checkpoint ({type(exc).__name__}: "
                                   f"{exc})") from None
    return state


def _config_of(state: dict, cls):
    """The recipe a checkpoint was written with; fields it predates take their defaults (all "off")."""
    from latentedit_toyfaces.recipes.distill_config import without_retired

    data = without_retired(json.loads(state["config"]), source="checkpoint config")
    return cls.from_dict(data, source="checkpoint config")


def read_checkpoint(path, cls) -> tuple[dict, object]:
    """(state, recipe) of the training checkpoint at ``path``, read once."""
    state = _read_state(path)
    return state, _config_of(state, cls)


def checkpoint_config(path, cls):
    """The recipe stored in the training checkpoint at ``path`` (what ``--resume`` continues)."""
    return read_checkpoint(path, cls)[1]


def extension_conflicts(old, new, step: int) -> list[str]:
    """Why ``new`` cannot continue a run of ``old`` at ``step`` (empty when it can)."""
    problems = [f"{f.name} ({getattr(old, f.name)!r} -> {getattr(new, f.name)!r})"
                for f in dataclasses.fields(new)
                if f.name not in SCHEDULE_FIELDS and getattr(old, f.name) != getattr(new, f.name)]
    for s in range(step):
        if _schedule(old, s) != _schedule(new, s):
            problems.append(f"the schedule of step {s} (checkpoint {_schedule(old, s)}, now {_schedule(new, s)}): "
                            f"a new phase must start at step {step} or later")
            break
    return problems


def load_for_extension(path, *, config, modules: dict[str, torch.nn.Module],
                       optimizers: dict[str, torch.optim.Optimizer]) -> int:
    """Restore a checkpoint of an earlier recipe into a run of ``config``; returns its step.

    Raises CheckpointStateError naming the fields or the first step where the recipes part ways.
    """
    state, old = read_checkpoint(path, type(config))
    step = int(state["step"])
    problems = extension_conflicts(old, config, step)
    if problems:
        raise CheckpointStateError(f"{path} (step {step}) cannot be continued with this recipe: "
                                   + "; ".join(problems))
    for name in ("G", "G_ema"):
        if name not in state["modules"]:
            raise CheckpointStateError(f"{path}: no {name!r} weights in the checkpoint")
    for k, m in modules.items():
        if k in state["modules"]:
            m.load_state_dict(state["modules"][k])
    for k, o in optimizers.items():
        if k in state["optimizers"]:
            o.load_state_dict(state["optimizers"][k])
    torch.set_rng_state(state["torch_rng"])
    return step
