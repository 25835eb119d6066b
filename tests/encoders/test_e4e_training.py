"""e4e training recipe on a tiny random generator: loss goes down, exact resume, stages, losses, data, export."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from latentedit.training.checkpoint import CheckpointStateError
from latentedit_e4e.data import FolderImages
from latentedit_e4e.encoder import E4EEncoder
from latentedit_e4e.losses import delta_regulariser, e4e_loss
from latentedit_e4e.train_config import E4ETrainConfig, stage_at
from latentedit_e4e.trainer import E4ETrainer, train
from tests.conftest import tiny_generator



SMALL = dict(data="generator", lpips_lambda=0.0, id_lambda=0.0, learning_rate=2e-3, batch_size=4,
             progressive_start=4, progressive_step_every=2, w_pool_size=3, d_reg_every=2,
             encoder_input_resolution=32, encoder_stage_units=(1, 1, 1, 1), encoder_stage_widths=(16, 16, 16, 16))


class StubEmbedder(torch.nn.Module):
    """A fixed random 'identity' net: (B, 3, H, W) -> (B, 4)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, 2, 1)

    def forward(self, x):
        return self.conv(x).mean(dim=(2, 3))


def test_tiny_training_lowers_reconstruction_error(tmp_path):
    G = tiny_generator(16)
    cfg = E4ETrainConfig(**{**SMALL, "batch_size": 8})
    run = E4ETrainer(cfg, G, tmp_path / "run", encoder_cls=E4EEncoder)
    held = run.held_out()
    before = run.reconstruction_error(held)
    for _ in range(30):
        rec = run.train_step()
    assert {"l2", "delta", "adv", "d"} <= set(rec) and rec["stage"] == 6
    assert run.reconstruction_error(held) < 0.6 * before


def _state(run):
    out = {f"enc.{k}": v.clone() for k, v in run.encoder.state_dict().items()}
    out.update({f"disc.{k}": v.clone() for k, v in run.disc.state_dict().items()})
    out.update({f"pool.{k}": v.clone() for k, v in run.fake_pool.state_dict().items()})
    return out


def test_resume_is_exactly_equivalent(tmp_path):
    G = tiny_generator(16)
    cfg = E4ETrainConfig(**SMALL)
    straight = E4ETrainer(cfg, G, tmp_path / "a", encoder_cls=E4EEncoder)
    for _ in range(6):
        straight.train_step()
    first = E4ETrainer(cfg, G, tmp_path / "b", encoder_cls=E4EEncoder)
    for _ in range(3):
        first.train_step()
    first.save()
    torch.manual_seed(123)  # the resumed run must not depend on the caller's RNG state
    resumed = E4ETrainer(cfg, G, tmp_path / "b", resume=True, encoder_cls=E4EEncoder)
    assert resumed.step == 3
    for _ in range(3):
        resumed.train_step()
    a, b = _state(straight), _state(resumed)
    assert a.keys() == b.keys()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []


def test_resume_refuses_another_config_or_overwrite(tmp_path):
    G = tiny_generator(16)
    run = E4ETrainer(E4ETrainConfig(**SMALL), G, tmp_path / "r", encoder_cls=E4EEncoder)
    run.train_step()
    run.save()
    with pytest.raises(FileExistsError, match="pass --resume"):
        E4ETrainer(E4ETrainConfig(**SMALL), G, tmp_path / "r", encoder_cls=E4EEncoder)
    with pytest.raises(CheckpointStateError, match="learning_rate"):
        E4ETrainer(E4ETrainConfig(**{**SMALL, "learning_rate": 1e-5}), G, tmp_path / "r", resume=True,
                   encoder_cls=E4EEncoder)
    with pytest.raises(ValueError, match="trained for generator"):
        E4ETrainer(E4ETrainConfig(**SMALL), tiny_generator(16, seed=3), tmp_path / "r", resume=True,
                   encoder_cls=E4EEncoder)


def test_progressive_stage_schedule():
    cfg = E4ETrainConfig(progressive_start=20000, progressive_step_every=2000)
    assert [stage_at(s, cfg, 18) for s in (0, 19999, 20000, 21999, 22000, 53999, 54000, 10**6)] == \
        [0, 0, 1, 1, 2, 17, 18, 18]
    assert stage_at(0, E4ETrainConfig(progressive_start=None), 18) == 18


def test_delta_regulariser_and_loss_terms():
    codes = torch.zeros(2, 4, 3)
    codes[:, 1] = torch.tensor([3.0, 4.0, 0.0])   # ||delta_1|| = 5
    codes[:, 2] = torch.tensor([0.0, 0.0, 1.0])   # ||delta_2|| = 1
    assert delta_regulariser(codes, 0) == 0
    assert delta_regulariser(codes, 1) == pytest.approx(5.0)
    assert delta_regulariser(codes, 3) == pytest.approx(6.0)
    from latentedit.losses import IdentityLoss

    cfg = E4ETrainConfig(progressive_start=0, id_lambda=0.5, lpips_lambda=0.8, w_discriminator_lambda=0.0)
    x, y = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1

    def fake_lpips(a, b):
        return (a - b).abs().mean(dim=(1, 2, 3), keepdim=True)

    total, parts = e4e_loss(cfg, x, y, codes, 2, lpips_model=fake_lpips, identity=IdentityLoss(StubEmbedder()))
    assert set(parts) == {"l2", "lpips", "id", "delta"}
    assert parts["delta"] == pytest.approx(2e-4 * 6.0)
    assert parts["lpips"] == pytest.approx(0.8 * float((x - y).abs().mean()), rel=1e-5)
    assert float(total) == pytest.approx(sum(parts.values()), rel=1e-5)


def test_identity_term_and_export_store_the_recipe(tmp_path):
    G = tiny_generator(16)
    cfg = E4ETrainConfig(**{**SMALL, "id_lambda": 0.1, "identity": "toy", "progressive_start": None})
    run = train(cfg, G, tmp_path / "run", steps=2, progress=False, sample_every=2, identity_embedder=StubEmbedder(),
                encoder_cls=E4EEncoder)
    assert (tmp_path / "run" / "checkpoint.pt").is_file() and list((tmp_path / "run" / "samples").glob("*.png"))
    rec = run.train_step()
    assert "id" in rec and "delta" not in rec    # no offset regularisation without progressive training
    enc = E4EEncoder.load(run.export(tmp_path / "enc.safetensors"))
    assert E4ETrainConfig.from_dict(enc.training_config) == cfg
    assert enc.generator.fingerprint() == G.fingerprint() and enc.stage == G.num_ws


def test_folder_images(tmp_path):
    for i in range(5):
        Image.fromarray(np.full((20, 30, 3), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("x")
    src = FolderImages(tmp_path, 16, 2, seed=0)
    assert len(src.files) == 5
    x = src.batch(0)
    assert x.shape == (2, 3, 16, 16) and x.min() >= -1 and x.max() <= 1
    assert src.indices(0) == FolderImages(tmp_path, 16, 2, seed=0).indices(0)
    assert len(set(src.indices(0) + src.indices(1))) == 4   # without replacement within an epoch
    with pytest.raises(ValueError, match="need at least batch_size=8"):
        FolderImages(tmp_path, 16, 8, seed=0)


def test_train_encoder_cli_trains_resumes_and_exports(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from latentedit.cli.train_encoder_cmd import train_encoder
    from latentedit.io.ours import save_generator
    from latentedit.testing.fake_plugins import fake_entry_point, isolate_plugins

    isolate_plugins(monkeypatch, [fake_entry_point("e4e", "latentedit_e4e.encoder:E4EEncoder",
                                                   group="latentedit.encoders", dist="latentedit")])
    G = tiny_generator(16)
    gpath = save_generator(G, tmp_path / "g.safetensors")
    sets = []
    for k, v in SMALL.items():
        sets += ["--set", f"{k}={list(v) if isinstance(v, tuple) else v}".replace("(", "[").replace(")", "]")]
    base = ["--generator", str(gpath), "--run-dir", str(tmp_path / "run"), "--device", "cpu", *sets]
    runner = CliRunner()
    res = runner.invoke(train_encoder, [*base, "--steps", "2"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(train_encoder, [*base, "--steps", "3"])
    assert res.exit_code != 0 and "pass --resume" in res.output
    res = runner.invoke(train_encoder, [*base, "--steps", "3", "--resume", "--out", str(tmp_path / "e.safetensors")])
    assert res.exit_code == 0 and "reached step 3" in res.output, res.output
    assert E4EEncoder.load(tmp_path / "e.safetensors").training_config["learning_rate"] == 2e-3
    res = runner.invoke(train_encoder, [*base, "--steps", "1", "--set", "lpips_lamda=1", "--run-dir",
                                        str(tmp_path / "x")])
    assert res.exit_code != 0 and "did you mean 'lpips_lambda'" in res.output


def test_toy_data_and_evaluation_figures(tmp_path):
    from latentedit_e4e.evaluate import evaluate_encoder

    G = tiny_generator(16)
    run = E4ETrainer(E4ETrainConfig(**{**SMALL, "data": "toy"}), G, tmp_path / "toy", encoder_cls=E4EEncoder)
    rec = run.train_step()
    assert rec["l2"] > 0 and run.held_out(4).shape == (4, 3, 16, 16)

    class Factors(torch.nn.Module):  # stands in for the factor estimator: (B, 3, H, W) -> (B, NUM_FACTORS)
        def forward(self, x):
            from latentedit_toyfaces.factors import NUM_FACTORS

            return torch.sigmoid(x.mean(dim=(1, 2, 3)))[:, None].expand(-1, NUM_FACTORS)

    figs = evaluate_encoder(run.encoder, G, n=8, batch=4, identity=StubEmbedder(), factors=Factors(),
                            lpips_model=lambda a, b: (a - b).abs().mean(dim=(1, 2, 3)), refine=5)
    per_attr = figs["attr_agree_truth_per_attribute"]
    assert np.mean(list(per_attr.values())) == pytest.approx(figs["attr_agree_truth"])
    assert figs["refined_steps"] == 5 and figs["refined_l2"] < figs["l2"]     # refinement fits the renders better
    assert np.isfinite(figs["refined_from_w_avg_l2"]) and figs["refined_from_w_avg_l2"] != figs["refined_l2"]
    for key in ("l2", "lpips", "id_cos_median", "attr_agree_truth", "attr_agree_self", "offset_norm",
                "dist_to_w_avg", "easy_l2", "easy_latent_err", "baseline_l2", "baseline_steps"):
        assert key in figs and np.isfinite(figs[key]), key


def test_attribute_preservation_term_is_zero_gradient_at_a_perfect_reconstruction_and_trains(tmp_path):
    from latentedit.training.toys import calibrated_judge
    from latentedit_e4e.losses import attribute_preservation_loss

    G = tiny_generator(16)
    judge = calibrated_judge(G, 3)
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    y = x.clone().requires_grad_(True)
    attribute_preservation_loss(judge, y, x).backward()
    assert float(y.grad.abs().max()) < 1e-7                    # its own probabilities: nothing to change
    y2 = x + 0.3 * torch.randn_like(x)
    assert float(attribute_preservation_loss(judge, y2, x)) > float(attribute_preservation_loss(judge, x, x))
    run = E4ETrainer(E4ETrainConfig(**{**SMALL, "attr_lambda": 1.0}), G, tmp_path / "a",
                     attribute_classifier=judge, encoder_cls=E4EEncoder)
    rec = run.train_step()
    plain = E4ETrainer(E4ETrainConfig(**SMALL), G, tmp_path / "b", encoder_cls=E4EEncoder)
    assert rec["attr"] > 0 and "attr" not in plain.train_step()
    with pytest.raises(ValueError, match="attributes must be one of"):
        E4ETrainConfig(attributes="facenet")
