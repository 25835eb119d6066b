"""Which path ``LATENTEDIT_OPS=auto`` takes for a call, from the measurements in ``benchmarks/ops.py``.

Native is the default; the exceptions are cases where the reference measured faster (see docs/ops.md).
"""

from __future__ import annotations

import torch


def bias_act_native(x: torch.Tensor, act: str) -> bool:
    return True


def upfirdn2d_native(x: torch.Tensor, f, up: tuple[int, int], down: tuple[int, int]) -> bool:
    return True
