"""Later phases of the generator recipe: the paired-flip loss and continuing a finished run (--extend-from)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from click.testing import CliRunner

from latentedit.cli.main import cli
from latentedit_toyfaces.factors import INDEX
from latentedit.training.checkpoint import CheckpointStateError
from latentedit_toyfaces.recipes.distill_phases import extension_conflicts
from latentedit_toyfaces.recipes.distill import DistillConfig, DistillRun, train

# The "old" recipe: no readout, no smile boost, no detail phase (like the first generator's checkpoint).
OLD = DistillConfig(resolution=16, w_dim=16, mapping_layers=2, channels=(16, 16, 8), batch_size=4, lr=5e-3,
                    per_attribute_from_step=1, lr_decay_from_step=2, lr_decay_to_step=3, readout_weight=0.0,
                    smile_boost_from_step=-1)
LATER = dict(detail_from_step=3, detail_decay_to_step=6, readout_weight=5.0, readout_from_step=3)


def _new(**kw) -> DistillConfig:
    return dataclasses.replace(OLD, **{**LATER, **kw})


def test_a_phase_may_start_at_the_checkpoint_step_but_not_before_it():
    assert extension_conflicts(OLD, _new(), 3) == []
    early = extension_conflicts(OLD, _new(detail_from_step=2, readout_from_step=2), 3)
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


def test_checkpoint_configs_with_the_removed_options_off_still_load_and_on_are_refused():
    import json

    from latentedit_toyfaces.recipes.distill_phases import _config_of

    stored = dataclasses.asdict(OLD) | {"pair_weight": 0.0, "pair_attributes": ["smile"], "adv_weight": 0.0,
                                        "adv_channels": [32, 64, 128]}
    assert _config_of({"config": json.dumps(stored)}, DistillConfig) == OLD
    with pytest.raises(ValueError, match="pair_weight=1.0: this option was removed"):
        _config_of({"config": json.dumps(stored | {"pair_weight": 1.0})}, DistillConfig)


def test_cli_set_and_extend_from_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["toyfaces", "train-generator", "--run-dir", str(tmp_path / "r"), "--steps", "1",
                              "--set", "readut_weight=1"])
    assert res.exit_code != 0 and "did you mean 'readout_weight'" in res.output
    res = runner.invoke(cli, ["toyfaces", "train-generator", "--run-dir", str(tmp_path / "r"), "--steps", "1",
                              "--set", "pair_weight=1"])  # a removed option is an unknown field
    assert res.exit_code != 0 and "pair_weight" in res.output
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_readout_factors_restrict_the_regression(tmp_path):
    with pytest.raises(ValueError, match="readout_factors must name"):
        _new(readout_factors=("grin",))
    cfg = _new(readout_factors=("smile",), readout_from_step=0, detail_from_step=0)
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
