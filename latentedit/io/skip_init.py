"""Building a network that a checkpoint is about to overwrite, without drawing its random initial weights.

    with without_random_init():
        G = Generator(config)              # parameters allocated, not drawn
    load_into(G, tensors, path)           # strict: every parameter and persistent buffer is replaced

Inside the block the random draws of module constructors become uninitialised allocations: ``torch.randn`` /
``torch.rand`` (and their ``_like`` forms) return ``torch.empty``, the random ``torch.nn.init`` functions and the
in-place samplers (``Tensor.uniform_``, ``normal_``, ...) return their tensor untouched. Building e4e's 267 M
parameters then costs an allocation instead of 267 M draws (4 s here, 14 s on a loaded machine), and the global
random generator is not advanced. Everything ``__init__`` computes deterministically (resampling filters, the zeros
of ``w_avg``, constant fills of normalisation layers) stays exact.

Use it only around a build that a strict load of *every* parameter and persistent buffer follows: anything drawn at
random and not overwritten holds whatever the allocator returned. Random tensors that a constructor keeps outside
the state dict (non-persistent buffers, plain attributes) would be garbage too; the networks loaded this way have
none (their non-persistent buffers are the deterministic resampling filters).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

_FACTORIES = {torch.randn: torch.empty, torch.rand: torch.empty,
              torch.randn_like: torch.empty_like, torch.rand_like: torch.empty_like}
_SAMPLERS = {getattr(nn.init, name) for name in (
    "uniform_", "normal_", "trunc_normal_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_",
    "xavier_normal_", "orthogonal_", "sparse_")} | {getattr(torch.Tensor, name) for name in (
        "uniform_", "normal_", "random_", "exponential_", "geometric_", "cauchy_", "log_normal_", "bernoulli_")}


class without_random_init(TorchFunctionMode):  # noqa: N801 - used as a context manager, named like one
    """Context manager: module constructors inside it allocate their random tensors without filling them."""

    def __torch_function__(self, func, types, args=(), kwargs=None) -> Any:
        kwargs = dict(kwargs or {})
        if func in _FACTORIES:
            kwargs.pop("generator", None)
            return _FACTORIES[func](*args, **kwargs)
        if func in _SAMPLERS:
            return args[0] if args else kwargs["tensor"]
        return func(*args, **kwargs)
