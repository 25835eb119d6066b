"""Scale: pools rendered in chunks give the same results as one batch; the joint discriminator's input size
follows the generator."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

try:
    import latentedit_sensorium  # noqa: F401
except ImportError:  # the editable install predates the plugin folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from latentedit.editing import face_style_codes
from latentedit.editing import sampling as sm
from latentedit.testing.mapper_contract import TINY_GENERATOR
from latentedit.training.discriminator import AttributeDiscriminator, discriminator_input_size
from latentedit.training.toys import tiny_generator
from latentedit_sensorium import SensoriumConfig, SensoriumMapper

SMALL = SensoriumConfig(style_dim=6, encoder_channels=(4,), encoder_input=8, hidden_dim=8, residual_init_scale=1.0)


class MeanBrightness(nn.Module):
    """A stand-in classifier: 'smile' = red channel brighter than 1, 'glasses' = blue darker than -0.5."""

    output_names = ("smile", "glasses")

    def forward(self, x):
        return torch.stack([x[:, 0].mean((1, 2)) - 1.0, -x[:, 2].mean((1, 2)) - 0.5], dim=1)


@pytest.fixture(scope="module")
def world():
    G = tiny_generator(16, w_dim=16).double()
    torch.manual_seed(0)
    mapper = SensoriumMapper(SMALL, TINY_GENERATOR).eval().double()
    return G, mapper


@pytest.mark.parametrize("batch_size", [1, 3, 7])
def test_face_style_codes_in_chunks_equal_one_batch(world, batch_size):
    G, mapper = world
    with torch.no_grad():
        whole, note_whole = face_style_codes(mapper, G, {"smile": 1.0}, pool=20, seed=5, classifier=MeanBrightness(),
                                             batch_size=20)
        chunked, note = face_style_codes(mapper, G, {"smile": 1.0}, pool=20, seed=5, classifier=MeanBrightness(),
                                         batch_size=batch_size)
    assert 0 < whole.shape[0] < 20, note_whole  # the classifier really picked some of the pool
    assert note == note_whole and whole.dtype == torch.float64
    # equal up to float64 rounding (BLAS sums a batch of 20 and a batch of 1 in different orders: ~1e-15)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-12)
    with torch.no_grad():
        every, note_all = face_style_codes(mapper, G, {}, pool=9, seed=0, batch_size=batch_size)
    assert every.shape == (9, 6) and note_all == "all 9 generated faces"


def test_face_style_codes_chunks_bound_the_rendered_batch(world):
    G, mapper = world
    seen = []
    handle = G.synthesis.register_forward_hook(lambda mod, args, out: seen.append(out.shape[0]))
    try:
        with torch.no_grad():
            face_style_codes(mapper, G, {}, pool=10, seed=0, batch_size=4)
    finally:
        handle.remove()
    assert seen == [4, 4, 2]


def test_edit_clusters_in_chunks_equal_one_batch(world):
    _, mapper = world
    w = torch.randn(1, 6, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    target = torch.tensor([[1.0, 0.0, 1.0]], dtype=torch.float64)
    whole = sm.cluster_conditions(mapper, 4, w_plus=w, target=target, pool=30, seed=2, batch_size=30)
    for bs in (1, 4, 13):
        assert torch.equal(sm.cluster_conditions(mapper, 4, w_plus=w, target=target, pool=30, seed=2,
                                                 batch_size=bs), whole)
    conds = sm.random_conditions(mapper, 9, generator=torch.Generator().manual_seed(0)).double()
    torch.testing.assert_close(sm.edit_with_conditions(mapper, w, conds, target, batch_size=2),
                               sm.edit_with_conditions(mapper, w, conds, target), rtol=0, atol=1e-12)
    with pytest.raises(sm.SamplingError, match="batch_size must be at least 1"):
        sm.cluster_conditions(mapper, 4, w_plus=w, target=target, pool=30, batch_size=0)


def test_discriminator_input_size_follows_the_generator():
    assert discriminator_input_size(64) == 64
    assert discriminator_input_size(1024) == 256
    assert discriminator_input_size(1024, 512) == 512
    assert discriminator_input_size(16) == 16


def test_trainer_builds_the_joint_discriminator_at_the_generator_size(tmp_path):
    from latentedit.training.config import ConfigError, TrainerConfig, build_run_config
    from latentedit.training.toys import calibrated_judge
    from latentedit.training.trainer import MapperTrainer
    from latentedit_isf import ISFMapper

    G = tiny_generator(32)
    base = {**ISFMapper.default_trainer_config(), "steps": 1, "batch": 2, "d_channels": [4], "progress": False,
            "sample_interval": 0, "sample_count": 0, "loss_weights": {"lpips": 0.0, "lpips_cycle": 0.0}}
    for extra, expected in (({}, 32), ({"d_input_size": 16}, 16)):
        run = build_run_config("isf", ISFMapper, {"mapper": {"z_dim": 4, "hidden_dim": 8},
                                                  "trainer": {**base, **extra}})
        trainer = MapperTrainer(run, G, tmp_path / str(expected), mapper_class=ISFMapper,
                                classifier=calibrated_judge(G, 2))
        assert isinstance(trainer.D, AttributeDiscriminator) and trainer.D.input_size == expected
        seen = []
        trainer.D.trunk[0].register_forward_pre_hook(lambda mod, args: seen.append(tuple(args[0].shape[-2:])))
        trainer.D(torch.zeros(1, 3, 32, 32))
        assert seen == [(expected, expected)]
    with pytest.raises(ConfigError, match="d_input_size"):
        TrainerConfig(d_input_size=4)
