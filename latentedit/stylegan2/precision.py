"""Which parts of synthesis stay in float32 when it runs under bfloat16 autocast (``--precision bf16``).

Autocast alone casts every matmul and convolution to bf16, including the style affines, the demodulation
coefficients and the 3-channel ToRGB convolutions, which lose precision and gain no speed. The policy keeps
those in fp32 (measured in ``benchmarks/peak.py --bf16``; the table is in docs/ops.md). Outside autocast the
policy has no effect: fp32 runs stay bit-identical.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

import torch


@dataclass(frozen=True)
class MixedPrecision:
    """fp32 islands inside a bf16-autocast synthesis pass.

    * ``modulation``: the style affines and the demodulation coefficients (tiny matmuls, precision-critical);
    * ``torgb``: the ToRGB 1x1 convolutions and hence the whole RGB skip path;
    * ``upconv_from``: the x2 up-sampling (transposed) convolutions that output this resolution or more (``None``,
      the default: none). Keeping all of them in fp32 (``8``) buys ~3 dB (43.7 vs 40.3 at 1024 px) for 1.28x
      instead of 1.63x over fp32; ``512`` was the default while oneDNN's bf16 transposed convolutions ran slower
      than fp32 at 512 and 1024 px on NCHW activations (0.73x, 0.86x): on the channels-last activations CPUs with
      native bf16 now use they run ~2x faster than fp32 (docs/ops.md);
    * ``from_resolution``: every layer of the blocks at or above this resolution (``None``: none).
    """

    modulation: bool = True
    torgb: bool = True
    upconv_from: int | None = None
    from_resolution: int | None = None


_POLICY = [MixedPrecision()]


def policy() -> MixedPrecision:
    return _POLICY[0]


@contextlib.contextmanager
def mixed_precision(p: MixedPrecision | None = None, **changes):
    """Use ``p`` (or the current policy with ``changes``) inside the ``with`` block (benchmarks, experiments)."""
    old = _POLICY[0]
    _POLICY[0] = replace(p if p is not None else old, **changes)
    try:
        yield _POLICY[0]
    finally:
        _POLICY[0] = old


def native_cpu_bf16() -> bool:
    """Whether this CPU runs oneDNN's bf16 kernels natively (AVX-512 BF16 or AMX). Elsewhere bf16 convolutions are
    emulated: on an AVX2 EPYC the 16- and 32-px layers of a 1024-px synthesis (the run was stopped there) ran their
    3x3 convolutions at 0.00-0.01x and their transposed ones at 0.30-0.41x the speed of fp32 (docs/ops.md)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def slow_bf16_warning(device: torch.device | str) -> str | None:
    """A one-line warning when bf16 would be far slower than fp32 on ``device`` (a CPU without native bf16)."""
    if torch.device(device).type != "cpu" or native_cpu_bf16():
        return None
    return (f"bf16 on this CPU ({torch.backends.cpu.get_cpu_capability()}, no AVX-512 BF16/AMX) is emulated: "
            "convolutions ran 2.4x to over 100x slower than fp32 (docs/ops.md); use fp32 here, bf16 on a GPU or a "
            "CPU with AVX-512 BF16")


def autocasting(x: torch.Tensor) -> bool:
    """Whether autocast is active for ``x``'s device type (CPU or CUDA)."""
    return torch.is_autocast_enabled(x.device.type)


def keep_fp32(part: str, resolution: int | None = None) -> bool:
    """Whether ``part`` ('modulation', 'torgb', 'upconv', 'conv') of a layer at ``resolution`` stays fp32."""
    p = _POLICY[0]
    if resolution is not None:
        if p.from_resolution is not None and resolution >= p.from_resolution:
            return True
        if part == "upconv":
            return p.upconv_from is not None and resolution >= p.upconv_from
    return bool(getattr(p, part, False))


def fp32_region(x: torch.Tensor):
    """A context that turns autocast off for ``x``'s device (use with ``.float()`` inputs)."""
    return torch.autocast(device_type=x.device.type, enabled=False)
