"""Shared fixtures: tiny seeded generators and the golden-file folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "golden"

# Tiny test networks run many times faster on one thread than on two contended ones.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def golden_dir() -> Path:
    if not GOLDEN.is_dir():
        pytest.skip(f"golden files not found at {GOLDEN} (../shared/golden beside the repository)")
    return GOLDEN


def tiny_generator(resolution: int = 16, z_dim: int = 8, w_dim: int = 8, mapping_layers: int = 2,
                   channels=None, seed: int = 0):
    """A random generator with every parameter and buffer perturbed (noise strengths, biases, w_avg non-zero)."""
    from latentedit.stylegan2 import Generator, GeneratorConfig

    torch.manual_seed(seed)
    n = len(range(2, resolution.bit_length()))
    cfg = GeneratorConfig(resolution=resolution, z_dim=z_dim, w_dim=w_dim, mapping_layers=mapping_layers,
                          channels=tuple(channels or [8] * n))
    G = Generator(cfg)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(0.1 * torch.randn_like(p))
        G.mapping.w_avg.normal_()
    return G.eval()


@pytest.fixture
def tiny_G():
    return tiny_generator()
