"""The toy-faces generator recipe: exact resume, SIGKILL-safe checkpoints, loss that learns, CLI wiring."""

from __future__ import annotations

import json

import pytest
import torch

from latentedit.training.checkpoint import CheckpointStateError, load_training_state
from latentedit.training.distill_toyfaces import (DistillConfig, DistillRun, heldout_l1, targets_for, train,
                                                  validation_z)

# Both phases and the learning-rate decay fall inside the 6-step runs below, so resume is tested across them.
TINY = DistillConfig(resolution=16, w_dim=16, mapping_layers=2, channels=(16, 16, 8), batch_size=4, lr=5e-3,
                     per_attribute_from_step=2, lr_decay_from_step=3, lr_decay_to_step=5)


def _params(run: DistillRun):
    return {k: v.clone() for k, v in run.G_ema.state_dict().items()}


def test_resume_is_bit_identical(tmp_path):
    straight = train(TINY, tmp_path / "a", steps=6, progress=False, sample_every=100, eval_every=100)
    train(TINY, tmp_path / "b", steps=3, progress=False, sample_every=100, eval_every=100)
    resumed = train(TINY, tmp_path / "b", steps=6, resume=True, progress=False, sample_every=100, eval_every=100)
    assert resumed.step == straight.step == 6
    a, b = _params(straight), _params(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    losses_a = [json.loads(l)["loss"] for l in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    losses_b = [json.loads(l)["loss"] for l in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert losses_a == losses_b


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
    cfg = DistillConfig(**{**TINY.__dict__, "lr_decay_from_step": 1000, "lr_decay_to_step": 2000})
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
    from latentedit.toyfaces.factors import ATTRIBUTE_NAMES, INDEX, factors_from_gaussian
    from latentedit.toyfaces.renderer import render
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
