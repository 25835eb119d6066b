"""The toy-faces generator recipe: exact resume, SIGKILL-safe checkpoints, loss that learns, CLI wiring."""

from __future__ import annotations

import json

import pytest
import torch

from latentedit.training.checkpoint import CheckpointStateError, load_training_state
from latentedit.training.distill_toyfaces import DistillConfig, DistillRun, heldout_l1, train, validation_z

TINY = DistillConfig(resolution=16, w_dim=16, mapping_layers=2, channels=(16, 16, 8), batch_size=4, lr=5e-3)


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
    run = DistillRun(TINY, tmp_path, resume=False)
    z = validation_z(32, run.G.z_dim)
    before = heldout_l1(run.G, z, TINY)
    for _ in range(40):
        run.train_step()
    after = heldout_l1(run.G, z, TINY)
    assert after < 0.6 * before, (before, after)
