"""Metric helpers and training pieces of the toy-faces judges (no shipped weights needed)."""

import dataclasses

import pytest
import torch

from latentedit_toyfaces.datasets import FaceStream, PairStream
from latentedit_toyfaces.judge_evaluation import r2_scores, roc_auc
from latentedit_toyfaces.factors import IDENTITY_INDEX, NUM_FACTORS
from latentedit_toyfaces.judge_training import RECIPES, arcface_pair_loss, lr_factor


def test_roc_auc_known_values():
    pos = torch.tensor([True, True, False, False])
    assert roc_auc(torch.tensor([0.9, 0.8, 0.1, 0.2]), pos) == 1.0
    assert roc_auc(torch.tensor([0.1, 0.2, 0.9, 0.8]), pos) == 0.0
    assert roc_auc(torch.tensor([0.5, 0.5, 0.5, 0.5]), pos) == 0.5
    assert roc_auc(torch.tensor([0.9, 0.3, 0.5, 0.1]), pos) == 0.75
    with pytest.raises(ValueError, match="both classes"):
        roc_auc(torch.ones(3), torch.ones(3, dtype=torch.bool))


def test_roc_auc_matches_pairwise_definition():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(300, generator=g).round(decimals=1)  # with ties
    p = torch.rand(300, generator=g) < 0.3
    sp, sn = s[p], s[~p]
    ref = ((sp[:, None] > sn[None]).double() + 0.5 * (sp[:, None] == sn[None]).double()).mean()
    assert abs(roc_auc(s, p) - float(ref)) < 1e-9


def test_r2_scores():
    t = torch.rand(100, 3, generator=torch.Generator().manual_seed(1))
    r2 = r2_scores(t, t)
    assert torch.allclose(r2, torch.ones(3))
    assert torch.allclose(r2_scores(t.mean(0).expand_as(t), t), torch.zeros(3), atol=1e-6)


def test_streams_are_deterministic_and_pairs_share_identity():
    a, b = next(FaceStream(3, batch_size=4)), next(FaceStream(3, batch_size=4))
    assert torch.equal(a.images, b.images) and a.images.shape == (4, 3, 64, 64)
    assert a.labels.shape == (4, 5)
    p = next(PairStream(4, persons=5))
    ident = list(IDENTITY_INDEX)
    assert torch.equal(p.factors_a[:, ident], p.factors_b[:, ident])
    assert not torch.equal(p.images_a, p.images_b)
    assert p.factors_a.shape == (5, NUM_FACTORS)


def test_arcface_loss_prefers_matching_views():
    e = torch.nn.functional.normalize(torch.randn(8, 16, generator=torch.Generator().manual_seed(2)), dim=1)
    good = arcface_pair_loss(e, e, margin=0.3, scale=16.0)
    bad = arcface_pair_loss(e, e.roll(1, 0), margin=0.3, scale=16.0)
    assert good < bad
    # the margin makes the same embeddings cost more
    assert arcface_pair_loss(e, e, 0.3, 16.0) > arcface_pair_loss(e, e, 0.0, 16.0)


def test_lr_schedule_warms_up_decays_and_respects_the_time_cap():
    r = dataclasses.replace(RECIPES["attributes"], steps=1000, warmup_steps=100)
    assert lr_factor(0, r) == pytest.approx(0.01)
    assert lr_factor(99, r) == pytest.approx(1.0)
    assert lr_factor(999, r) < 0.05
    assert lr_factor(200, r, cpu_fraction=1.0) == pytest.approx(0.02)


def test_training_is_reproducible_for_a_seed(tmp_path):
    from latentedit.io.modelfile import read_model_file
    from latentedit_toyfaces.judge_training import train_judge

    r = dataclasses.replace(RECIPES["identity"], steps=2, warmup_steps=1, batch_size=8)
    for name in ("a", "b"):
        train_judge("identity", tmp_path / f"{name}.safetensors", r, eval_n=20, log=lambda s: None)
    wa, _, cfg, extra = read_model_file(tmp_path / "a.safetensors")
    wb = read_model_file(tmp_path / "b.safetensors")[0]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert cfg["recipe"]["seed"] == RECIPES["identity"].seed and extra["steps_done"] == 2
