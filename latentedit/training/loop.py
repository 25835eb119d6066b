"""``RunLoop``: the one training loop of latentedit — a run folder, checkpoints, exact resume, NaN rollback,
logging, progress and DDP awareness — driven by a caller's step function.

The caller registers what a checkpoint holds (``track``: modules, optimisers, JSON dicts updated in place, or any
object with ``state_dict``/``load_state_dict`` returning JSON-ready dicts), restores (``restore``: refuses an
existing checkpoint without ``resume``), then runs::

    loop = RunLoop("runs/x", config=cfg, total_steps=1000, checkpoint_every=100, resume=args.resume)
    loop.track(modules={"net": net}, optimizers={"net": optimizer}, counters={"seen": 0})
    loop.restore()
    loop.every(500, write_samples)
    loop.run(lambda step: {"losses": train_one_step(step)})

Per step (``advance``): an in-memory snapshot of the tracked modules and optimisers (``snapshot.py``), then the
step function. A step that raises ``NonFiniteStep``, returns a non-finite loss, or leaves a non-finite weight is
rolled back to the snapshot, logged as a ``nonfinite`` event and skipped; more than ``max_nonfinite`` in a row stop
the run with ``TrainingDivergedError`` (the checkpoint on disk is always a good state). The step counter advances
either way, so a skipped batch is not redrawn.

Exact resume: a checkpoint stores the tracked state, the torch RNG and the step (``checkpoint.py``, atomic writes),
so when every batch is a function of (seed, step) or of the checkpointed RNG, N steps equal N/2 + resume + N/2 bit
for bit. Rank 0 alone writes checkpoints and the log (``runlog.py``); the others get ``NullLog``.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from latentedit.io.modelfile import atomic_write
from latentedit.training.checkpoint import CheckpointStateError, load_training_state, save_training_state
from latentedit.training.distributed import DistContext
from latentedit.training.runlock import lock_run_folder
from latentedit.training.runlog import NullLog, RunLog, rewind_log
from latentedit.training.snapshot import Snapshot, all_finite

__all__ = ["RunLoop", "NonFiniteStep", "TrainingDivergedError", "GeneratorState"]


class TrainingDivergedError(FloatingPointError):
    """Too many consecutive steps were non-finite; the run stopped at its last good state."""


class NonFiniteStep(Exception):
    """Raised by a step function when a value went NaN/inf (``where``: what, ``values``: the numbers seen);
    the loop rolls the step back."""

    def __init__(self, where: str, values: Mapping[str, float] | None = None):
        super().__init__(where)
        self.where, self.values = where, dict(values or {})


class GeneratorState:
    """Makes a ``torch.Generator`` (e.g. a data stream's) part of a checkpoint: ``loop.track(data=GeneratorState(g))``."""

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    def state_dict(self) -> dict[str, list[int]]:
        return {"state": self.generator.get_state().tolist()}

    def load_state_dict(self, state: Mapping[str, list[int]]) -> None:
        self.generator.set_state(torch.tensor(state["state"], dtype=torch.uint8))


def _scalars(result: Mapping[str, Any] | None) -> dict[str, float]:
    """The numbers a progress bar shows: ``result['losses']`` if present, else the top-level numbers."""
    if not result:
        return {}
    src = result["losses"] if isinstance(result.get("losses"), Mapping) else result
    return {k: float(v) for k, v in src.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


class RunLoop:
    """One training run in ``run_dir`` (see the module doc; None: a run in memory only — no checkpoint, no log).

    ``config``: what a checkpoint must match to be resumed (a dataclass or a JSON-ready dict; ``normalise`` reads
    an older checkpoint's config, see ``load_training_state``). ``checkpoint_every`` steps and/or
    ``checkpoint_minutes`` (None: off; 0: every step) — a checkpoint is always written at the end.
    ``log_every``: a metrics line every N steps (and at the last). ``meta``: JSON-ready fields stored at the top of
    every checkpoint's ``extra`` (e.g. the full run config); ``saved_meta`` holds those read on resume.
    ``rollback``: snapshot every step (False: a non-finite step raises ``TrainingDivergedError`` at once).
    ``check_weights``: also roll back when a tracked module's parameter is non-finite after the step.
    ``diverged_hint``: what the divergence error tells the user to do.
    """

    def __init__(self, run_dir: str | Path | None, *, config: Any, total_steps: int, checkpoint_every: int = 0,
                 checkpoint_minutes: float | None = None, log_every: int = 1, resume: bool = False,
                 ctx: DistContext | None = None, progress: bool = True, tensorboard: bool = True,
                 max_nonfinite: int = 0, rollback: bool = True, check_weights: bool = True,
                 checkpoint_name: str = "checkpoint.pt", normalise: Callable[[dict], dict] | None = None,
                 meta: Mapping[str, Any] | None = None, max_nonfinite_name: str = "max_nonfinite",
                 exists_hint: str = "choose another run folder",
                 diverged_hint: str = "lower the learning rate or check the loss weights, then resume"):
        self.dir = None if run_dir is None else Path(run_dir)
        self.config, self.total_steps = config, int(total_steps)
        self.checkpoint_every, self.checkpoint_minutes = int(checkpoint_every), checkpoint_minutes
        self.log_every, self.resume = max(1, int(log_every)), resume
        self.ctx = ctx or DistContext()
        self.progress, self.tensorboard = progress, tensorboard
        self.max_nonfinite, self.rollback, self.check_weights = int(max_nonfinite), rollback, check_weights
        self.checkpoint_path = None if self.dir is None else self.dir / checkpoint_name
        self.normalise, self.meta = normalise, dict(meta or {})
        self.exists_hint, self.diverged_hint = exists_hint, diverged_hint
        self.max_nonfinite_name = max_nonfinite_name
        self.modules: dict[str, torch.nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.dicts: dict[str, dict] = {}
        self.stateful: dict[str, Any] = {}
        self.counters: dict[str, int] = self.track_dict("counters", {"skipped_steps": 0, "consecutive_nonfinite": 0})
        self.step = 0
        self.resumed_from: int | None = None
        self.saved_meta: dict[str, Any] = {}
        self.log: NullLog = NullLog()
        self.last: dict[str, Any] = {}
        self.on_rollback: list[Callable[[], None]] = []
        self.after_save: list[Callable[[int], None]] = []
        self._hooks: list[tuple[int, Callable[[int], Any], bool]] = []
        self._snapshot: Snapshot | None = None

    # ---- what a checkpoint holds -------------------------------------------------------------------------------
    def track(self, modules: Mapping[str, torch.nn.Module] | None = None,
              optimizers: Mapping[str, torch.optim.Optimizer] | None = None, **state: Any) -> RunLoop:
        """Register what a checkpoint holds, by name: ``modules`` and ``optimizers`` (their own name spaces, as in
        the checkpoint file); ``state``: an ``nn.Module`` or ``Optimizer`` (by type), a ``dict`` (stored as JSON,
        updated in place on resume), or an object with ``state_dict``/``load_state_dict`` (JSON-ready dicts).
        Register before ``restore``, in the same order on every run."""
        self.modules.update(modules or {})
        self.optimizers.update(optimizers or {})
        for name, obj in state.items():
            if isinstance(obj, torch.nn.Module):
                self.modules[name] = obj
            elif isinstance(obj, torch.optim.Optimizer):
                self.optimizers[name] = obj
            elif isinstance(obj, dict):
                self.track_dict(name, obj)
            elif callable(getattr(obj, "state_dict", None)) and callable(getattr(obj, "load_state_dict", None)):
                self.stateful[name] = obj
            else:
                raise TypeError(f"RunLoop.track({name}=...): expected an nn.Module, an Optimizer, a dict or an object "
                                f"with state_dict/load_state_dict; got {type(obj).__name__}")
        self._snapshot = None
        return self

    def track_dict(self, name: str, d: dict) -> dict:
        self.dicts[name] = d
        return d

    def _extra(self) -> dict[str, Any]:
        return {**self.meta, **{k: dict(v) for k, v in self.dicts.items()},
                **{k: o.state_dict() for k, o in self.stateful.items()}}

    def restore(self) -> int:
        """Read the checkpoint when resuming (returns the step reached, 0 for a new run). An existing checkpoint
        without ``resume`` is an error (nothing is overwritten), and so is ``resume`` without one (nothing is
        written: a typo in the folder name must not start the default recipe over)."""
        if self.dir is None:
            return self.step
        if self.checkpoint_path.exists() and not self.resume:
            raise FileExistsError(f"{self.checkpoint_path} exists: pass --resume to continue that run, or "
                                  f"{self.exists_hint}")
        if self.resume and not self.checkpoint_path.exists():
            raise CheckpointStateError(f"{self.checkpoint_path}: --resume was given but this run folder has no "
                                       "checkpoint yet; drop --resume to start a new run there")
        if self.resume and self.checkpoint_path.exists():
            self.step, extra = load_training_state(self.checkpoint_path, config=self.config, modules=self.modules,
                                                   optimizers=self.optimizers, normalise=self.normalise)
            for name, d in self.dicts.items():
                d.update(extra.get(name, {}))
            for name, obj in self.stateful.items():
                if name in extra:
                    obj.load_state_dict(extra[name])
            owned = set(self.dicts) | set(self.stateful)
            self.saved_meta = {k: v for k, v in extra.items() if k not in owned}
            self.resumed_from = self.step
        return self.step

    def save(self) -> Path | None:
        """Rank 0: write the checkpoint atomically (then the ``after_save`` hooks). Returns its path."""
        if not self.ctx.is_main or self.dir is None:
            return None
        path = save_training_state(self.checkpoint_path, config=self.config, step=self.step, modules=self.modules,
                                   optimizers=self.optimizers, extra=self._extra())
        self._last_save = time.monotonic()
        for fn in self.after_save:
            fn(self.step)
        self.log.event(self.step, "checkpoint", path=str(path))
        return path

    def write_json(self, name: str, obj: Any) -> Path | None:
        """Rank 0: ``run_dir/name`` written atomically as indented JSON."""
        if not self.ctx.is_main or self.dir is None:
            return None
        self.dir.mkdir(parents=True, exist_ok=True)
        return atomic_write(self.dir / name,
                            lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=2, sort_keys=True, default=str)))

    def every(self, interval: int, fn: Callable[[int], Any], *, at_end: bool = True) -> None:
        """Call ``fn(step)`` after every ``interval``-th step (0: only at the end) and, with ``at_end``, after the
        last one (after the final checkpoint)."""
        self._hooks.append((int(interval), fn, at_end))

    # ---- one step ------------------------------------------------------------------------------------------------
    @property
    def snapshot(self) -> Snapshot:
        """The in-memory copy of the tracked modules and optimisers that a rolled-back step returns to."""
        if self._snapshot is None:
            self._snapshot = Snapshot(self.modules, self.optimizers)
        return self._snapshot

    def advance(self, step_fn: Callable[[int], Mapping[str, Any] | None], *,
                step: int | None = None) -> dict[str, Any] | None:
        """Run ``step_fn(step)`` once (default: the next step) and count it; None when it was rolled back (and
        skipped)."""
        step = self.step if step is None else int(step)
        if self.rollback:
            self.snapshot.take()
        try:
            result = step_fn(step)
            result = {} if result is None else dict(result)
            bad = {k: v for k, v in _scalars(result).items() if not math.isfinite(v)}
            if bad:
                raise NonFiniteStep("loss", _scalars(result))
            if self.check_weights and not all_finite(p for m in self.modules.values() for p in m.parameters()):
                raise NonFiniteStep("weights after the update", _scalars(result))
        except NonFiniteStep as exc:
            self.step = step + 1
            self._rolled_back(step, exc)
            return None
        self.counters["consecutive_nonfinite"] = 0
        self.step = step + 1
        self.last = result
        return result

    def _rolled_back(self, step: int, exc: NonFiniteStep) -> None:
        bad = {k: v for k, v in exc.values.items() if not math.isfinite(v)}
        msg = f"non-finite {exc.where}: " + ", ".join(f"{k}={v}" for k, v in (bad or exc.values).items())
        kept = "" if self.dir is None else f" the last checkpoint in {self.dir} is intact."
        if not self.rollback:
            raise TrainingDivergedError(f"step {step}: {msg}.{kept} {self.diverged_hint[:1].upper()}"
                                        f"{self.diverged_hint[1:]}.") from None
        self.snapshot.restore()
        for fn in self.on_rollback:
            fn()
        self.counters["skipped_steps"] += 1
        self.counters["consecutive_nonfinite"] += 1
        n = self.counters["consecutive_nonfinite"]
        self.log.event(step, "nonfinite", where=exc.where, values={k: str(v) for k, v in exc.values.items()},
                       message=msg, consecutive=n)
        if n > self.max_nonfinite:
            raise TrainingDivergedError(
                f"step {step}: {msg}; {n} consecutive non-finite steps ({self.max_nonfinite_name}={self.max_nonfinite}). The "
                f"state was rolled back to step {step};{kept} "
                f"{self.diverged_hint[:1].upper()}{self.diverged_hint[1:]}.") from None

    # ---- the loop ------------------------------------------------------------------------------------------------
    def _due(self, interval: int) -> bool:
        return bool(interval) and self.step % interval == 0 and self.step < self.total_steps

    def _checkpoint_due(self) -> bool:
        if self._due(self.checkpoint_every):
            return True
        if self.checkpoint_minutes is None or self.step >= self.total_steps:
            return False
        return time.monotonic() - self._last_save >= self.checkpoint_minutes * 60

    def open_log(self, start_fields: Mapping[str, Any] | None = None) -> None:
        """Rank 0: open ``log.jsonl`` (and the progress bar) and log ``start`` or ``resume``."""
        if not self.ctx.is_main or self.dir is None or isinstance(self.log, RunLog):
            return
        if self.resumed_from is not None:  # steps logged after the checkpoint are replayed: drop them once
            rewind_log(self.dir / "log.jsonl", self.step)
        self.log = RunLog(self.dir, total_steps=self.total_steps, start_step=self.step, progress=self.progress,
                          tensorboard=self.tensorboard)
        self.log.event(self.step, "resume" if self.resumed_from is not None else "start",
                       world=self.ctx.world, device=str(self.ctx.device), **dict(start_fields or {}))

    def run(self, step_fn: Callable[[int], Mapping[str, Any] | None], *,
            start_fields: Mapping[str, Any] | None = None,
            on_start: Callable[[RunLoop], Any] | None = None, advances: bool = False,
            stop_when: Callable[[int], bool] | None = None) -> dict[str, Any]:
        """Advance until ``total_steps``: log, checkpoint and call the ``every`` hooks on the way; a final
        checkpoint, the hooks' last calls and a ``done`` event at the end. Returns ``{step, run_dir, counters...,
        last}`` (``last``: the last step's result).

        ``advances``: ``step_fn`` calls ``advance`` itself (a trainer whose public ``train_step`` is one rolled-back
        step) and returns None for a skipped step. ``stop_when(step)``: checked before each step; True ends the run
        there (a final checkpoint and the end hooks still follow), e.g. a time cap."""
        if self.ctx.is_main and self.dir is not None:  # one trainer at a time in a run folder
            self.dir.mkdir(parents=True, exist_ok=True)
            lock = lock_run_folder(self.dir)
        else:
            lock = contextlib.ExitStack()
        try:
            self.open_log(start_fields)
        except BaseException:
            lock.close()
            raise
        self._last_save = time.monotonic()
        try:
            if on_start is not None:
                on_start(self)
            while self.step < self.total_steps:
                if stop_when is not None and stop_when(self.step):
                    break
                result = step_fn(self.step) if advances else self.advance(step_fn)
                if result is not None:
                    if self.step % self.log_every == 0 or self.step == self.total_steps:
                        self.log.metrics(self.step, result)
                    self.log.progress(self.step, _scalars(result))
                if self._checkpoint_due():
                    self.save()
                for interval, fn, _ in self._hooks:
                    if self._due(interval):
                        fn(self.step)
            self.save()
            for _, fn, at_end in self._hooks:
                if at_end:
                    fn(self.step)
            self.log.event(self.step, "done", counters=self.counters)
        finally:
            self.log.close()
            self.log = NullLog()
            lock.close()
        self.ctx.barrier()  # only on success: a rank that failed alone must not leave the others waiting here
        return {"step": self.step, "run_dir": None if self.dir is None else str(self.dir), **self.counters, "last": self.last}
