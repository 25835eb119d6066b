"""build_loss_modules: only active losses are built, with their weights; missing resources are clear errors."""

import pytest
import torch
from torch import nn

from latentedit.losses import (
    AttributeLoss,
    CycleLoss,
    DiversityLoss,
    IdentityLoss,
    LatentL2Loss,
    LossSettings,
    LPIPSLoss,
    MissingWeightsError,
    build_loss_modules,
)


def test_builds_only_active_losses_with_their_weights():
    clf = nn.Linear(4, 2)
    emb = nn.Linear(4, 3)
    weights = {"attribute": 2.0, "latent_l2": 0.8, "identity": 0.0, "latent_cycle": 1.0, "diversity": 2.0,
               "adversarial": 1.0, "r1": 1.0}
    settings = LossSettings(attribute_pos_weight=(1.0, 5.0), diversity_decay_steps=10, cycle_kind="l2",
                            attribute_margin=4.0)
    losses = build_loss_modules(weights, settings, classifier=clf, embedder=emb)
    assert list(losses) == ["attribute", "latent_l2", "latent_cycle", "diversity"]  # adversarial/r1: trainer's
    assert isinstance(losses["attribute"], AttributeLoss) and losses["attribute"].weight == 2.0
    assert torch.equal(losses["attribute"].pos_weight, torch.tensor([1.0, 5.0]))
    assert losses["attribute"].margin_on == "all"
    assert losses["attribute"].margin == 4.0 and build_loss_modules(weights, classifier=clf,
                                                                    embedder=emb)["attribute"].margin == 0.0
    assert isinstance(losses["latent_l2"], LatentL2Loss) and losses["latent_l2"].weight == 0.8
    assert isinstance(losses["latent_cycle"], CycleLoss) and losses["latent_cycle"].kind == "l2"
    assert isinstance(losses["diversity"], DiversityLoss) and losses["diversity"].weight_at(5) == pytest.approx(1.0)


def test_bad_attribute_margin_is_refused():
    for bad in (-0.5, True, "6"):
        with pytest.raises(ValueError, match="losses.attribute_margin must be a number >= 0"):
            LossSettings(attribute_margin=bad)
    with pytest.raises(ValueError, match="attribute_margin_on must be one of"):
        LossSettings(attribute_margin_on="kept")


def test_missing_resources_are_explained(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="no classifier was given"):
        build_loss_modules({"attribute": 1.0})
    with pytest.raises(ValueError, match="no embedder was given"):
        build_loss_modules({"identity": 0.1})
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="20180402-114759-vggface2.pt"):
        build_loss_modules({"identity": 0.1}, LossSettings(identity="facenet"))
    with pytest.raises(MissingWeightsError, match="alexnet-owt-7be5be79.pth"):
        build_loss_modules({"lpips": 1.0})
    with pytest.raises(ValueError, match="unknown loss 'lpip'"):
        build_loss_modules({"lpip": 1.0})


def test_lpips_and_lpips_cycle_share_one_network():
    losses = build_loss_modules({"lpips": 1.0, "lpips_cycle": 0.5, "identity": 0.1},
                                LossSettings(lpips_pretrained_backbone=False), embedder=nn.Flatten())
    assert isinstance(losses["lpips"], LPIPSLoss) and losses["lpips_cycle"].weight == 0.5
    assert losses["lpips"].model is losses["lpips_cycle"].model
    assert isinstance(losses["identity"], IdentityLoss)
