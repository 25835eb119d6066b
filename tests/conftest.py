"""Shared fixtures and helpers: tiny seeded generators, a calibrated tiny world, the golden-file folder.

Test modules import helpers from here (``from tests.conftest import tiny_generator``), never from each other."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO.parent / "shared" / "golden"
needs_golden = pytest.mark.skipif(not GOLDEN.is_dir(),
                                  reason=f"golden files not found at {GOLDEN} (../shared/golden beside the repo)")

# Tiny test networks run many times faster on one thread than on two contended ones.
torch.set_num_threads(1)
# Synthesis keeps NCHW activations on every host, so a test sees the same ops on an AVX2 and an AVX-512 CI machine;
# the channels-last path has its own tests (tests/core/test_stylegan2_memory_format.py), which set this themselves.
os.environ.setdefault("LATENTEDIT_CHANNELS_LAST", "0")


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


def tiny_world():
    """A tiny 16-px generator and a two-attribute linear judge calibrated on its samples (shared trainer tests)."""
    from latentedit.training.toys import LinearJudge
    from latentedit.training.toys import tiny_generator as toy_generator

    G = toy_generator(16, z_dim=8, w_dim=8)
    z = torch.randn(64, G.z_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        images = G.synthesis(G.mapping(z, truncation_psi=0.7), noise_mode="const")
    return G, LinearJudge(2, pool=1, seed=0).calibrate(images).eval()


def sensorium_small():
    """A small sensorium mapper config with the reference code and the relative change on."""
    from latentedit_sensorium import SensoriumConfig

    return SensoriumConfig(style_dim=7, encoder_channels=(4, 8), encoder_input=16, hidden_dim=8,
                           reference_code=True, relative_delta=True, residual_init_scale=1.0)
