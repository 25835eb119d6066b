"""Resumable training checkpoints: tensors, optimiser states, RNG state and step in one file, written atomically.

Only plain containers of tensors and numbers are stored, so files load with ``torch.load(weights_only=True)``;
configs go in as JSON strings. A SIGKILL during a save leaves the previous checkpoint intact (temp + rename).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from latentedit.io.errors import LatenteditInputError
from latentedit.io.modelfile import atomic_write, config_to_json

CHECKPOINT_VERSION = 1


class CheckpointStateError(LatenteditInputError):
    """A training checkpoint is unreadable or belongs to another recipe."""


def save_training_state(path, *, config: Any, step: int, modules: dict[str, torch.nn.Module],
                        optimizers: dict[str, torch.optim.Optimizer], extra: dict | None = None) -> Path:
    """Write ``{modules, optimizers, step, rng, config}`` atomically to ``path``."""
    state = {
        "version": CHECKPOINT_VERSION,
        "config": config_to_json(config),
        "step": int(step),
        "modules": {k: m.state_dict() for k, m in modules.items()},
        "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
        "torch_rng": torch.get_rng_state(),
        "extra": json.dumps(extra or {}),
    }
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_training_state(path, *, config: Any, modules: dict[str, torch.nn.Module],
                        optimizers: dict[str, torch.optim.Optimizer], strict_config: bool = True,
                        normalise=None) -> tuple[int, dict]:
    """Restore modules, optimisers and RNG from ``path``; returns (step, extra).

    With ``strict_config`` a checkpoint written by another config is refused (the fields that differ are named).
    ``normalise(saved_config_dict) -> dict``: the checkpoint's config as today's code reads it (a field added since
    it was written takes its default, which must mean the old behaviour), so a newer version can resume it; if it
    raises, the saved config is compared as stored.
    """
    path = Path(path)
    state = read_training_state(path)
    try:
        saved, current = json.loads(state["config"]), json.loads(config_to_json(config))
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        raise CheckpointStateError(f"{path}: damaged training checkpoint (its config: {type(exc).__name__})") from None
    if strict_config and normalise is not None and saved != current:
        try:
            saved = json.loads(config_to_json(normalise(saved)))
        except Exception:  # noqa: BLE001 - an unreadable old config is compared as stored, and named below
            pass
    if strict_config and saved != current:
        saved, current = _flatten(saved), _flatten(current)
        diff = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
        raise CheckpointStateError(
            f"{path}: written by another config; fields that differ: "
            + ", ".join(f"{k} (checkpoint {saved.get(k)!r}, now {current.get(k)!r})" for k in diff)
            + ". Resume with the same settings, or start a new run folder.")
    try:
        for k, m in modules.items():
            m.load_state_dict(state["modules"][k])
        for k, o in optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        torch.set_rng_state(state["torch_rng"])
        step, extra = int(state["step"]), json.loads(state["extra"])
        if step < 0 or not isinstance(extra, dict):
            raise ValueError(f"step {step}, extra {type(extra).__name__}")
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError, RecursionError) as exc:
        raise CheckpointStateError(f"{path}: damaged training checkpoint ({type(exc).__name__}: "
                                   f"{' '.join(str(exc).split())[:200]}); start a new run folder") from None
    return step, extra


def read_training_state(path) -> dict:
    """The raw state dict of a training checkpoint: a regular file, scanned before a weights-only ``torch.load``
    (see ``latentedit.io.torch_files``); CheckpointStateError (one line) otherwise."""
    from latentedit.io.torch_files import read_torch_file

    path = Path(path)
    try:
        state = read_torch_file(path)
    except LatenteditInputError as exc:
        raise CheckpointStateError(f"not a readable training checkpoint: {exc}") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise CheckpointStateError(f"{path}: not a latentedit training checkpoint (version {CHECKPOINT_VERSION})")
    return state


def _flatten(d: Any, prefix: str = "") -> dict:
    """Nested dicts -> {dotted.key: value} (so a config difference is named down to the field)."""
    if not isinstance(d, dict) or not d:
        return {prefix: d} if prefix else {}
    out = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


@torch.no_grad()
def ema_update(ema: torch.nn.Module, live: torch.nn.Module, beta: float) -> None:
    """ema <- beta * ema + (1 - beta) * live for parameters; buffers are copied."""
    for pe, pl in zip(ema.parameters(), live.parameters()):
        pe.lerp_(pl.detach(), 1 - beta)
    for be, bl in zip(ema.buffers(), live.buffers()):
        be.copy_(bl)
