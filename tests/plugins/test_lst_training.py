"""The lst mapper trains with the shared trainer (reference targets): reference agreement rises from about the
unedited baseline to well above it on a tiny random generator with a frozen linear judge, and the reference
encoder's regression term is logged."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

try:
    import latentedit_lst  # noqa: F401
except ImportError:  # the editable install predates the plugin folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from latentedit.plugins import load_mapper_file, registered_mapper
from latentedit.training.config import build_run_config
from latentedit.training.toys import LinearJudge, tiny_generator
from latentedit.training.trainer import MapperTrainer
from latentedit_lst import LSTMapper


@torch.no_grad()
def agreement(mapper, G, judge, *, count: int = 64, seed: int = 12345) -> dict[str, float]:
    """Fraction of (pair, attribute) where the judge reads the reference's label on the edit, and on the source."""
    mapper.eval()
    z = torch.randn(2 * count, G.z_dim, generator=torch.Generator().manual_seed(seed))
    w = G.mapping(z, truncation_psi=0.7)
    x_src, x_ref = G.synthesis(w, noise_mode="const").chunk(2)
    ref = judge(x_ref) > 0
    edit = G.synthesis(mapper(w[:count], style=mapper.encode_style(x_ref)), noise_mode="const")
    return {"agreement": float(((judge(edit) > 0) == ref).float().mean()),
            "chance": float(((judge(x_src) > 0) == ref).float().mean())}


@pytest.fixture(scope="module")
def world():
    torch.manual_seed(0)
    G = tiny_generator(16, z_dim=8, w_dim=8)
    z = torch.randn(64, G.z_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        images = G.synthesis(G.mapping(z, truncation_psi=0.7), noise_mode="const")
    judge = LinearJudge(2, pool=1, seed=0).calibrate(images).eval()
    return G, judge


def test_shared_trainer_learns_reference_transfer(world, tmp_path):
    G, judge = world
    recipe = LSTMapper.default_trainer_config()
    assert recipe["targets"] == "reference"
    trainer = {**recipe, "steps": 150, "batch": 16, "lr": 3e-3, "ema_beta": 0.9, "progress": False,
               "sample_count": 0, "sample_interval": 0, "checkpoint_interval": 0,
               "loss_weights": {"lpips": 0.0, "identity": 0.0}}
    run = build_run_config("lst", LSTMapper, {
        "mapper": {"rank": 4, "hidden": 16, "encoder_channels": [8, 16], "encoder_input": 16},
        "trainer": trainer})
    with registered_mapper("lst", LSTMapper):
        t = MapperTrainer(run, G, tmp_path, mapper_class=LSTMapper, classifier=judge)
        before = agreement(t.ema, G, judge)
        summary = t.train()
        result = load_mapper_file(tmp_path / "mapper_ema.safetensors")
    assert isinstance(result, LSTMapper)
    assert "reference_encoder" in summary["losses"]
    after = agreement(result, G, judge)
    assert before["agreement"] < 0.7 and after["agreement"] >= 0.85 and after["agreement"] >= after["chance"] + 0.25, \
        (before, after)
