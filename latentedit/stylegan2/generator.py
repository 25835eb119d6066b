"""The StyleGAN2 generator: mapping + synthesis, built from one frozen ``GeneratorConfig``."""

from __future__ import annotations

import hashlib
from typing import Sequence

import torch
import torch.nn as nn

from latentedit.stylegan2.config import GeneratorConfig
from latentedit.stylegan2.mapping import MappingNetwork
from latentedit.stylegan2.synthesis import SynthesisNetwork


class Generator(nn.Module):
    """z (B, z_dim) -> image (B, 3, R, R) in [-1, 1]; ``mapping`` and ``synthesis`` are usable on their own."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        if not isinstance(config, GeneratorConfig):
            raise TypeError(f"Generator needs a GeneratorConfig; got {type(config).__name__}")
        self.config = config
        self.mapping = MappingNetwork(config)
        self.synthesis = SynthesisNetwork(config)

    @property
    def num_ws(self) -> int:
        return self.config.num_ws

    @property
    def w_dim(self) -> int:
        return self.config.w_dim

    @property
    def z_dim(self) -> int:
        return self.config.z_dim

    @property
    def resolution(self) -> int:
        return self.config.resolution

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
                noise_mode: str = "const", noise: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        ws = self.mapping(z, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, noise=noise)

    def fingerprint(self) -> str:
        """A short stable id of this generator (config + mapping weights + w_avg): latent files record it."""
        h = hashlib.sha256(repr(sorted(self.config.to_dict().items())).encode())
        for name, t in sorted(self.mapping.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
