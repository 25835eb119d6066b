"""The multi-scale attribute discriminator (pix2pixHD) as a joint-discriminator option: shapes per scale, gradients,
feature matching (zero for identical inputs, positive otherwise), the config option's round trip and checks, and a
short trainer run that uses it."""

from __future__ import annotations

import json

import pytest
import torch

from latentedit.config import ConfigError
from latentedit.training.config import TrainerConfig
from latentedit.training.discriminator import AttributeDiscriminator, build_joint_discriminator
from latentedit.training.multiscale_discriminator import MultiScaleAttributeDiscriminator


def _d(scales=2, size=32):
    torch.manual_seed(0)
    return MultiScaleAttributeDiscriminator(3, (4, 8), input_size=size, scales=scales)


@pytest.mark.parametrize("scales", [2, 3])
def test_shapes_per_scale(scales):
    d = _d(scales)
    x = torch.rand(2, 3, 64, 64) * 2 - 1                     # resized to input_size first
    pyr = d.pyramid(x)
    assert [p.shape[-1] for p in pyr] == [32 // 2 ** k for k in range(scales)]
    feats = d.features(x)
    assert [[tuple(f.shape) for f in fs] for fs in feats][0] == [(2, 4, 16, 16), (2, 8, 8, 8)]
    assert len(feats) == scales and feats[-1][-1].shape[-1] == 32 // 2 ** (scales - 1) // 4
    rf, cls = d(x)
    assert rf.shape == (2, scales) and cls.shape == (2, 3)


def test_gradients_reach_every_scale_and_the_input():
    d = _d(3)
    x = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    rf, cls = d(x)
    (rf.sum() + cls.sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for scale in d.scales:
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in scale.parameters())


def test_feature_matching_is_zero_for_identical_inputs_and_drives_the_fake():
    d = _d()
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    assert d.feature_matching_loss(real.clone(), real).item() == 0.0
    fake = (real + 0.3 * torch.randn(2, 3, 32, 32)).requires_grad_(True)
    loss = d.feature_matching_loss(fake, real)
    loss.backward()
    assert loss.item() > 0 and fake.grad.abs().sum() > 0


def test_config_option_round_trips_and_is_checked():
    tc = TrainerConfig(discriminator="joint", joint_discriminator="multiscale", d_scales=3, d_feature_matching=2.5)
    again = TrainerConfig.from_dict(json.loads(json.dumps(tc.to_dict())))
    assert again == tc and again.joint_discriminator == "multiscale" and again.d_scales == 3
    assert TrainerConfig().joint_discriminator == "single"          # the default is unchanged
    for bad in ({"joint_discriminator": "pyramid"}, {"d_scales": 4}, {"d_feature_matching": -1.0},
                {"joint_attribute_judge": "oracle"}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            TrainerConfig(**bad)
    with pytest.raises(ValueError, match="too small"):
        MultiScaleAttributeDiscriminator(2, (8, 16, 32), input_size=16, scales=3)


def test_builder_follows_the_generator_resolution():
    multi = build_joint_discriminator(TrainerConfig(joint_discriminator="multiscale"), 2, 64)
    assert isinstance(multi, MultiScaleAttributeDiscriminator) and multi.input_size == 64 and len(multi.scales) == 2
    assert build_joint_discriminator(TrainerConfig(joint_discriminator="multiscale"), 2, 1024).input_size == 256
    single = build_joint_discriminator(TrainerConfig(), 2, 32)
    assert isinstance(single, AttributeDiscriminator) and single.input_size == 32


def test_trainer_runs_with_the_multiscale_discriminator(tmp_path):
    from latentedit.plugins import registered_mapper
    from latentedit.training.config import build_run_config
    from latentedit.training.toys import ToyShiftMapper, calibrated_judge, tiny_generator
    from latentedit.training.trainer import MapperTrainer

    G = tiny_generator(32)
    judge = calibrated_judge(G, 2)
    run = build_run_config("toyshift", ToyShiftMapper, {"trainer": {
        "steps": 2, "batch": 4, "progress": False, "sample_count": 0, "sample_interval": 0,
        "discriminator": "joint", "joint_discriminator": "multiscale", "d_scales": 2,
        "loss_weights": {"lpips": 0.0, "identity": 0.0, "adversarial": 0.5}}})
    with registered_mapper("toyshift", ToyShiftMapper):
        t = MapperTrainer(run, G, tmp_path, mapper_class=ToyShiftMapper, classifier=judge)
        assert isinstance(t.D, MultiScaleAttributeDiscriminator) and t.D.input_size == 32
        summary = t.train()
    assert summary["skipped_steps"] == 0 and "feature_matching" in summary["losses"]
