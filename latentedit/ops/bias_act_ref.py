"""Reference (pure PyTorch) fused bias + activation: the definition of correctness for the native kernels.

Order, as the StyleGAN2 references define it: add bias -> activation -> multiply by gain -> clamp to [-clamp, clamp].
First and second order gradients come from autograd.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Activation:
    name: str
    func: Callable[[torch.Tensor, float], torch.Tensor]
    def_alpha: float
    def_gain: float


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation("linear", lambda x, a: x, 0.0, 1.0),
    "relu": Activation("relu", lambda x, a: F.relu(x), 0.0, math.sqrt(2)),
    "lrelu": Activation("lrelu", lambda x, a: F.leaky_relu(x, a), 0.2, math.sqrt(2)),
    "tanh": Activation("tanh", lambda x, a: torch.tanh(x), 0.0, 1.0),
    "sigmoid": Activation("sigmoid", lambda x, a: torch.sigmoid(x), 0.0, 1.0),
    "elu": Activation("elu", lambda x, a: F.elu(x), 0.0, 1.0),
    "selu": Activation("selu", lambda x, a: F.selu(x), 0.0, 1.0),
    "softplus": Activation("softplus", lambda x, a: F.softplus(x), 0.0, 1.0),
    "swish": Activation("swish", lambda x, a: torch.sigmoid(x) * x, 0.0, math.sqrt(2)),
}


def resolve_activation(act: str, alpha: float | None, gain: float | None) -> tuple[Activation, float, float]:
    """Look up ``act`` and fill in default alpha/gain; unknown names list the valid ones."""
    spec = ACTIVATIONS.get(act)
    if spec is None:
        raise ValueError(f"unknown activation {act!r}; expected one of {sorted(ACTIVATIONS)}")
    return spec, float(spec.def_alpha if alpha is None else alpha), float(spec.def_gain if gain is None else gain)


def fused_bias_act_ref(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    dim: int = 1,
    act: str = "linear",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """``clamp(gain * act(x + b), -clamp, clamp)``; ``b`` of shape ``(x.shape[dim],)`` is broadcast along ``dim``."""
    spec, alpha, gain = resolve_activation(act, alpha, gain)
    if b is not None:
        if b.ndim != 1 or b.shape[0] != x.shape[dim]:
            raise ValueError(f"bias must be ({x.shape[dim]},) to match x.shape[{dim}]; got {tuple(b.shape)}")
        shape = [1] * x.ndim
        shape[dim] = -1
        x = x + b.reshape(shape)
    x = spec.func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x
