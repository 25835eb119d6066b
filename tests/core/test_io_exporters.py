"""The foreign-layout exporters of ``latentedit.testing.foreign_formats`` (used by the loader tests)."""

from __future__ import annotations

import sys

import torch

from latentedit.testing.foreign_formats import export_nvidia_pkl, rosinality_generator_state
from tests.conftest import tiny_generator


def test_rosinality_export_has_reference_key_count():
    """config-f sized naming: 171 generator keys at 1024 with 8 mapping layers (anchor §2)."""
    from latentedit.stylegan2 import Generator, GeneratorConfig, channels_from_multiplier

    with torch.device("meta"):
        G = Generator(GeneratorConfig(resolution=1024, channels=channels_from_multiplier(1024, 2)))
    names = {k: tuple(v.shape) for k, v in rosinality_generator_state(G).items()}
    assert len(names) == 171
    assert names["convs.15.conv.weight"] == (1, 32, 32, 3, 3)
    assert names["noises.noise_16"] == (1, 1, 1024, 1024)


def test_nvidia_export_leaves_no_fake_modules_behind(tmp_path):
    export_nvidia_pkl(tmp_path / "g.pkl", tiny_generator(resolution=8))
    assert "torch_utils" not in sys.modules and "dnnlib" not in sys.modules
