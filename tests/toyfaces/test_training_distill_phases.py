"""Later phases of the generator recipe: the paired-flip loss and continuing a finished run (--extend-from)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from click.testing import CliRunner

from latentedit.cli.main import cli
from latentedit.stylegan2.layers import normalize_2nd_moment
from latentedit_toyfaces.factors import ATTRIBUTE_NAMES, INDEX, factors_from_gaussian
from latentedit.training.checkpoint import CheckpointStateError
from latentedit_toyfaces.recipes.distill_phases import extension_conflicts
from latentedit_toyfaces.recipes.distill import (DistillConfig, DistillRun, pair_loss, paired_batch, targets_for,
                                                  train)

# The "old" recipe: no readout, no smile boost, no pairs, no detail phase (like the first generator's checkpoint).
OLD = DistillConfig(resolution=16, w_dim=16, mapping_layers=2, channels=(16, 16, 8), batch_size=4, lr=5e-3,
                    per_attribute_from_step=1, lr_decay_from_step=2, lr_decay_to_step=3, readout_weight=0.0,
                    smile_boost_from_step=-1)
LATER = dict(detail_from_step=3, detail_decay_to_step=6, readout_weight=5.0, readout_from_step=3, pair_weight=1.0,
             pair_from_step=3)


def _new(**kw) -> DistillConfig:
    return dataclasses.replace(OLD, **{**LATER, **kw})


def test_pair_loss_is_one_for_a_generator_blind_to_the_flip_and_zero_for_an_exact_one():
    real = torch.rand(6, 3, 8, 8) * 2 - 1
    blind = torch.cat([real[:3], real[:3]])          # the flipped half looks like the source half
    assert float(pair_loss(blind, real)) == pytest.approx(1.0, abs=2e-3)
    shifted = real + 0.3                            # an offset on every image does not change the differences
    assert float(pair_loss(shifted, real)) == pytest.approx(0.0, abs=1e-6)
    # half the change drawn: error = half the change at both scales
    half = torch.cat([real[:3], (real[:3] + real[3:]) / 2])
    assert float(pair_loss(half, real)) == pytest.approx(0.5, abs=2e-3)


def test_paired_batch_flips_one_attribute_and_keeps_every_other_factor():
    z = torch.randn(8, 21, generator=torch.Generator().manual_seed(3))
    pz = paired_batch(z, "smile", prior=True)
    assert pz.shape == (8, 21)
    fa, fb = factors_from_gaussian(pz[:4]), factors_from_gaussian(pz[4:])
    s = INDEX["smile"]
    assert torch.allclose(fb[:, s], 1 - fa[:, s], atol=1e-5)
    others = [i for i in range(21) if i != s]
    assert torch.allclose(fa[:, others], fb[:, others], atol=1e-5)
    assert torch.allclose(pz[:4], normalize_2nd_moment(z[:4]))


def test_config_validates_pairs():
    with pytest.raises(ValueError, match="even batch_size"):
        _new(batch_size=5)
    with pytest.raises(ValueError, match="pair_attributes must name"):
        _new(pair_attributes=("grin",))
    cfg = _new(pair_attributes=("smile", "beard"))
    assert [cfg.pair_attribute(s) for s in range(4)] == ["smile", "beard", "smile", "beard"]
    assert set(cfg.pair_attributes) <= set(ATTRIBUTE_NAMES)


def test_a_phase_may_start_at_the_checkpoint_step_but_not_before_it():
    assert extension_conflicts(OLD, _new(), 3) == []
    early = extension_conflicts(OLD, _new(detail_from_step=2, readout_from_step=2, pair_from_step=2), 3)
    assert len(early) == 1 and "step 2" in early[0] and "step 3 or later" in early[0]
    static = extension_conflicts(OLD, _new(w_dim=32), 3)
    assert static == ["w_dim (16 -> 32)"]


def test_extend_continues_an_old_run_and_trains_the_new_terms(tmp_path):
    train(OLD, tmp_path / "old", steps=3, progress=False, sample_every=100, eval_every=100)
    old_g = DistillRun(OLD, tmp_path / "old", resume=True).G_ema.state_dict()
    new = _new()
    run = DistillRun(new, tmp_path / "new", resume=False, extend_from=tmp_path / "old" / "checkpoint.pt")
    assert run.step == 3
    assert all(torch.equal(old_g[k], v) for k, v in run.G_ema.state_dict().items())
    assert float(run.readout.weight.detach().abs().sum()) == 0          # the old recipe had no readout: fresh, zero
    ran = train(new, tmp_path / "new", steps=5, progress=False, sample_every=100, eval_every=100,
                extend_from=tmp_path / "old" / "checkpoint.pt")
    assert ran.step == 5 and float(ran.readout.weight.detach().abs().sum()) > 0
    # the extended run resumes like any other run
    again = DistillRun(new, tmp_path / "new", resume=True)
    assert again.step == 5
    with pytest.raises(CheckpointStateError, match="cannot be continued"):
        DistillRun(_new(detail_from_step=1), tmp_path / "other", resume=False,
                   extend_from=tmp_path / "old" / "checkpoint.pt")


def test_pair_term_is_part_of_the_loss_when_on(tmp_path, monkeypatch):
    import latentedit_toyfaces.recipes.distill as distill

    torch.manual_seed(0)
    cfg = _new(pair_weight=3.0, pair_from_step=0, readout_weight=0.0)
    run = DistillRun(cfg, tmp_path, resume=False)
    z = paired_batch(torch.randn(4, 21), "smile", prior=True)
    real, _ = targets_for(z, 16)
    with torch.no_grad():
        fake = run.G.synthesis(run.G.mapping(z), noise_mode="const")
    assert float(pair_loss(fake, real)) > 0.3  # a fresh generator does not draw the smile change
    seen = []

    def constant_pair_loss(fake, real):  # records the batch it got, adds a known amount to the loss
        seen.append((fake.shape, real))
        return fake.sum() * 0 + 7.0

    twin = DistillRun(cfg, tmp_path / "twin", resume=False)     # same seed: same weights, same batch
    monkeypatch.setattr(distill, "pair_loss", lambda f, r: f.sum() * 0)
    torch.manual_seed(1)
    without = twin.train_step()
    monkeypatch.setattr(distill, "pair_loss", constant_pair_loss)
    torch.manual_seed(1)
    loss = run.train_step()
    assert len(seen) == 1 and seen[0][0] == (4, 3, 16, 16)
    expected_real, _ = targets_for(paired_batch(distill.batch_z(cfg, 0, 21), "smile", True), 16)
    assert torch.allclose(seen[0][1], expected_real)        # the paired batch of step 0
    assert loss - without == pytest.approx(3.0 * 7.0, abs=1e-4)  # pair_weight x the pair term, nothing else
    monkeypatch.setattr(distill, "pair_loss", lambda f, r: pytest.fail("pair loss called while off"))
    DistillRun(_new(readout_weight=0.0), tmp_path / "off", resume=False).train_step()


def test_cli_set_and_extend_from_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["toyfaces", "train-generator", "--run-dir", str(tmp_path / "r"), "--steps", "1",
                              "--set", "readut_weight=1"])
    assert res.exit_code != 0 and "did you mean 'readout_weight'" in res.output
    res = runner.invoke(cli, ["toyfaces", "train-generator", "--run-dir", str(tmp_path / "r"), "--steps", "1",
                              "--set", "pair_weight=1", "--batch-size", "3"])
    assert res.exit_code != 0 and "even batch_size" in res.output
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_pair_loss_is_not_dominated_by_a_face_that_barely_changes():
    real = torch.rand(4, 3, 8, 8) * 2 - 1
    real[3] = real[1] + 1e-4            # pair 2 (rows 1 and 3) hardly changes: its intensity sat at the threshold
    fake = real.clone()
    fake[3] += 0.01                     # a small error on that pair alone
    assert float(pair_loss(fake, real)) < 0.05


def test_readout_factors_restrict_the_regression(tmp_path):
    with pytest.raises(ValueError, match="readout_factors must name"):
        _new(readout_factors=("grin",))
    cfg = _new(readout_factors=("smile",), readout_from_step=0, detail_from_step=0, pair_weight=0.0)
    run = DistillRun(cfg, tmp_path, resume=False)
    assert run._readout_columns == [INDEX["smile"]]
    run.train_step()
    grad_rows = run.readout.weight.detach().abs().sum(1)   # Adam moved only the smile row of the head
    assert float(grad_rows[INDEX["smile"]]) > 0
    assert float(grad_rows.sum() - grad_rows[INDEX["smile"]]) == 0


def test_cli_resume_takes_the_recipe_from_the_checkpoint(tmp_path, monkeypatch):
    import latentedit_toyfaces.recipes.distill as distill

    seen = {}

    def fake_train(cfg, run_dir, **kw):
        seen["cfg"] = cfg
        return type("R", (), {"step": 0, "ckpt": "x"})()

    train(OLD, tmp_path, steps=1, progress=False)
    monkeypatch.setattr(distill, "train", fake_train)
    res = CliRunner().invoke(cli, ["toyfaces", "train-generator", "--run-dir", str(tmp_path), "--steps", "2",
                                   "--resume"])
    assert res.exit_code == 0, res.output
    assert seen["cfg"] == OLD               # no flags repeated: the stored recipe, not the defaults
    res = CliRunner().invoke(cli, ["toyfaces", "train-generator", "--run-dir", str(tmp_path), "--steps", "2",
                                   "--resume", "--set", "lr=0.001"])
    assert seen["cfg"].lr == 0.001           # a changed field reaches train(), whose config check refuses it


def test_generator_from_run_is_what_export_writes(tmp_path):
    from latentedit.io.ours import load_generator_file
    from latentedit_toyfaces.recipes.distill import export_generator, generator_from_run

    train(OLD, tmp_path / "r", steps=2, progress=False, sample_every=100, eval_every=100)
    G, extra = generator_from_run(tmp_path / "r")
    assert extra["steps"] == 2 and extra["recipe"] == "toyfaces-distill"
    G2, extra2 = load_generator_file(export_generator(tmp_path / "r", tmp_path / "g.safetensors"))
    a, b = G.state_dict(), G2.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a) and extra2["steps"] == 2
    runner = CliRunner()
    res = runner.invoke(cli, ["toyfaces", "eval-generator", "--run-dir", str(tmp_path), "--n", "100"])
    assert res.exit_code != 0 and "must be a train-generator run folder" in res.output
    res = runner.invoke(cli, ["toyfaces", "eval-generator", "--run-dir", str(tmp_path / "r"), "--generator",
                              str(tmp_path / "g.safetensors")])
    assert res.exit_code != 0 and "not both" in res.output
