"""The toy-faces generator recipe: exact resume, SIGKILL-safe checkpoints, loss that learns, CLI wiring."""

from __future__ import annotations


import pytest
import torch

from latentedit.training.checkpoint import CheckpointStateError, load_training_state
from latentedit.training.runlog import read_log
from latentedit_toyfaces.recipes.distill import (DistillConfig, DistillRun, distill_loss, heldout_l1, targets_for, train,
                                                  validation_z)

# All three phases and both learning-rate decays fall inside the 6-step runs below, so resume is tested across them.
TINY = DistillConfig(resolution=16, w_dim=16, mapping_layers=2, channels=(16, 16, 8), batch_size=4, lr=5e-3,
                     per_attribute_from_step=2, lr_decay_from_step=3, lr_decay_to_step=4, detail_from_step=4,
                     detail_decay_to_step=6, readout_weight=20.0, readout_from_step=4)


def _params(run: DistillRun):
    return {k: v.clone() for k, v in run.G_ema.state_dict().items()}


def test_resume_is_bit_identical(tmp_path):
    straight = train(TINY, tmp_path / "a", steps=6, progress=False, sample_every=100, eval_every=100)
    train(TINY, tmp_path / "b", steps=3, progress=False, sample_every=100, eval_every=100)
    resumed = train(TINY, tmp_path / "b", steps=6, resume=True, progress=False, sample_every=100, eval_every=100)
    assert resumed.step == straight.step == 6
    a, b = _params(straight), _params(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(straight.readout.weight, resumed.readout.weight)
    assert float(straight.readout.weight.detach().abs().sum()) > 0
    losses = [[line["loss"] for line in read_log(tmp_path / run / "log.jsonl") if "loss" in line] for run in "ab"]
    assert len(losses[0]) == 6 and losses[0] == losses[1]


def test_existing_run_needs_resume_and_same_config(tmp_path):
    train(TINY, tmp_path, steps=1, progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        DistillRun(TINY, tmp_path, resume=False)
    other = DistillConfig(**{**TINY.__dict__, "lr": 1e-4})
    with pytest.raises(CheckpointStateError, match=r"lr \(checkpoint 0.005, now 0.0001\)"):
        DistillRun(other, tmp_path, resume=True)


def test_damaged_checkpoint_is_refused_and_temp_files_never_linger(tmp_path):
    run = train(TINY, tmp_path, steps=2, progress=False)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    data = run.ckpt.read_bytes()
    run.ckpt.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointStateError, match="not a readable training checkpoint"):
        load_training_state(run.ckpt, config=TINY, modules={"G": run.G}, optimizers={})


def test_distillation_reduces_heldout_error(tmp_path):
    torch.manual_seed(0)
    cfg = DistillConfig(**{**TINY.__dict__, "lr_decay_from_step": 1000, "lr_decay_to_step": 2000,
                        "detail_from_step": 0})
    run = DistillRun(cfg, tmp_path, resume=False)
    z = validation_z(32, run.G.z_dim)
    before = heldout_l1(run.G, z, cfg)
    for _ in range(40):
        run.train_step()
    after = heldout_l1(run.G, z, cfg)
    assert after < 0.6 * before, (before, after)


def test_learning_rate_schedule_is_constant_then_cosine_to_the_floor():
    cfg = DistillConfig(lr=1e-3, lr_decay_from_step=100, lr_decay_to_step=300, lr_final_ratio=0.1)
    assert cfg.lr_at(0) == cfg.lr_at(100) == pytest.approx(1e-3)
    assert cfg.lr_at(200) == pytest.approx(0.5 * (1e-3 + 1e-4))  # cosine midpoint
    assert cfg.lr_at(300) == cfg.lr_at(10_000) == pytest.approx(1e-4)
    assert cfg.lr_at(150) > cfg.lr_at(250)


def test_per_attribute_weight_map_gives_the_mouth_its_own_full_weight():
    from latentedit_toyfaces.factors import ATTRIBUTE_NAMES, INDEX, factors_from_gaussian
    from latentedit_toyfaces.renderer import render
    from latentedit.stylegan2.layers import normalize_2nd_moment

    z = torch.randn(8, 21, generator=torch.Generator().manual_seed(3))
    img_j, joint = targets_for(z, 64, per_attribute=False)
    img_p, per = targets_for(z, 64, per_attribute=True)
    assert torch.equal(img_j, img_p) and joint.shape == per.shape == (8, 1, 64, 64)
    assert float(joint.amax()) <= 1 and float(per.amax()) <= 1 and float(per.amin()) >= 0
    # where only the smile flip changes pixels, the per-attribute map reaches ~1; the joint map stays lower there
    f = factors_from_gaussian(normalize_2nd_moment(z))
    g = f.clone()
    g[:, INDEX["smile"]] = 1 - f[:, INDEX["smile"]]
    mouth = ((render(f, 64) - render(g, 64)).abs().mean(1, keepdim=True) > 0.05)
    assert "smile" in ATTRIBUTE_NAMES and mouth.any()
    assert float(per[mouth].mean()) > 1.5 * float(joint[mouth].mean())


def test_detail_phase_restarts_the_learning_rate_and_boosts_the_mouth():
    cfg = DistillConfig(lr=1e-3, lr_decay_from_step=100, lr_decay_to_step=300, lr_final_ratio=0.1,
                        detail_from_step=400, detail_lr=5e-4, detail_decay_to_step=600, smile_weight=12.0,
                        attr_weight=4.0, smile_boost_from_step=-1)  # -1: the boost only in the detail phase
    assert cfg.lr_at(399) == pytest.approx(1e-4) and cfg.lr_at(400) == pytest.approx(5e-4)
    assert cfg.lr_at(500) == pytest.approx(0.5 * (5e-4 + 1e-4)) and cfg.lr_at(600) == cfg.lr_at(9_999)
    assert cfg.total_steps == 600 and cfg.smile_boost(399) == 1.0 and cfg.smile_boost(400) == 3.0
    shipped = DistillConfig()  # the shipped recipe: no detail phase; readout and smile boost from step 0
    assert shipped.total_steps == shipped.lr_decay_to_step == 30_000 and not shipped.in_detail_phase(10**6)
    assert shipped.readout_on(0) and shipped.smile_boost(0) == shipped.smile_weight / shipped.attr_weight
    assert not DistillConfig(readout_weight=0.0).readout_on(10**6)

    from latentedit_toyfaces.factors import INDEX, factors_from_gaussian
    from latentedit_toyfaces.renderer import render
    from latentedit.stylegan2.layers import normalize_2nd_moment

    z = torch.randn(8, 21, generator=torch.Generator().manual_seed(3))
    _, plain = targets_for(z, 64, per_attribute=True)
    _, boosted = targets_for(z, 64, per_attribute=True, smile_boost=3.0)
    f = factors_from_gaussian(normalize_2nd_moment(z))
    g = f.clone()
    g[:, INDEX["smile"]] = 1 - f[:, INDEX["smile"]]
    change = (render(f, 64) - render(g, 64)).abs().mean(1, keepdim=True)
    mouth, untouched = change > 0.2, change == 0
    assert float(boosted.amax()) == pytest.approx(3.0, rel=1e-3)
    assert float(boosted[mouth].mean()) > 2.0 * float(plain[mouth].mean())
    torch.testing.assert_close(boosted[untouched], plain[untouched])  # where the smile changes nothing: as before


def test_weighted_gradient_term_counts_edges_inside_the_weight_map():
    cfg = DistillConfig(attr_weight=4.0, grad_weight=1.0)
    real = torch.zeros(1, 3, 16, 16)
    fake = real.clone()
    fake[..., 4, 4] = 1.0  # one wrong pixel: an intensity error and an edge error
    inside, outside = torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16)
    inside[..., 3:6, 3:6] = 1.0
    outside[..., 10:13, 10:13] = 1.0
    assert distill_loss(fake, real, inside, cfg) > distill_loss(fake, real, outside, cfg)  # the L1 part
    gain_w = distill_loss(fake, real, inside, cfg, weighted_gradient=True) - distill_loss(fake, real, inside, cfg)
    gain_o = distill_loss(fake, real, outside, cfg, weighted_gradient=True) - distill_loss(fake, real, outside, cfg)
    assert gain_w > 0 and gain_o == pytest.approx(0.0, abs=1e-7)


def test_readout_is_idle_before_the_detail_phase_and_draws_no_random_numbers(tmp_path):
    torch.manual_seed(TINY.seed)
    from latentedit.stylegan2 import Generator

    Generator(TINY.generator_config())
    expected_rng = torch.get_rng_state()
    run = DistillRun(TINY, tmp_path, resume=False)
    assert torch.equal(torch.get_rng_state(), expected_rng)  # earlier phases replay as before the readout existed
    for _ in range(TINY.readout_from_step):
        run.train_step()
    assert float(run.readout.weight.detach().abs().sum()) == 0.0 and not run.readout_opt.state
    run.train_step()
    assert float(run.readout.weight.detach().abs().sum()) > 0.0
