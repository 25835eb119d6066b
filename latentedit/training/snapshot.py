"""An in-memory copy of the last good training state, so a step that produces NaN/inf can be undone.

The trainer takes a snapshot before every step and restores it when any loss, gradient or updated weight is
non-finite: modules (parameters and buffers) and optimiser states go back exactly to where they were.
"""

from __future__ import annotations

import copy

import torch


def _clone(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: _clone(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_clone(v) for v in obj)
    return copy.copy(obj)


def _copy_into(saved, live) -> bool:
    """Copy ``live`` into the same-structured ``saved`` in place (tensors) / by value (the rest).
    Returns False when the structures differ (then the caller clones afresh)."""
    if isinstance(live, torch.Tensor):
        if not isinstance(saved, torch.Tensor) or saved.shape != live.shape or saved.dtype != live.dtype:
            return False
        saved.copy_(live)
        return True
    if isinstance(live, dict):
        if not isinstance(saved, dict) or saved.keys() != live.keys():
            return False
        ok = True
        for k, v in live.items():
            if isinstance(v, (torch.Tensor, dict, list, tuple)):
                ok = ok and _copy_into(saved[k], v)
            else:
                saved[k] = copy.copy(v)
        return ok
    if isinstance(live, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(live):
            return False
        if isinstance(saved, tuple):
            return saved == live if not any(isinstance(v, torch.Tensor) for v in live) else False
        for i, v in enumerate(live):
            if isinstance(v, (torch.Tensor, dict, list, tuple)):
                if not _copy_into(saved[i], v):
                    return False
            else:
                saved[i] = copy.copy(v)
        return True
    return False


class Snapshot:
    """``take()`` copies the state of ``modules`` and ``optimizers``; ``restore()`` puts it back in place.

    After the first ``take()`` the copies reuse their buffers (no allocation per step while the structure of the
    optimiser state stays the same)."""

    def __init__(self, modules: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer]):
        self.modules, self.optimizers = modules, optimizers
        self._mods: dict[str, dict[str, torch.Tensor]] = {}
        self._opts: dict[str, dict] = {}

    def take(self) -> None:
        for name, m in self.modules.items():
            saved = self._mods.get(name)
            if saved is None:
                self._mods[name] = {k: v.detach().clone() for k, v in m.state_dict().items()}
            else:  # reuse the buffers: no allocation after the first step
                for k, v in m.state_dict().items():
                    saved[k].copy_(v)
        for name, o in self.optimizers.items():
            live = o.state_dict()
            saved = self._opts.get(name)
            if saved is None or not _copy_into(saved, live):
                self._opts[name] = _clone(live)

    def restore(self) -> None:
        if not self._mods:
            raise RuntimeError("Snapshot.restore() before take()")
        with torch.no_grad():
            for name, m in self.modules.items():
                for k, v in m.state_dict().items():
                    v.copy_(self._mods[name][k])
        for name, o in self.optimizers.items():
            o.load_state_dict(_clone(self._opts[name]))


def all_finite(tensors) -> bool:
    """True when every tensor in the iterable is free of NaN/inf."""
    flags = [torch.isfinite(t).all() for t in tensors if t is not None and t.is_floating_point()]
    return bool(torch.stack(flags).all()) if flags else True
