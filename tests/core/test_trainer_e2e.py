"""The mapper trainer end to end on a tiny random generator: a toy mapper learns to flip a frozen classifier."""

from __future__ import annotations

import json

import pytest
import torch

from latentedit.latents import save_latents
from latentedit.plugins import ConfigError, load_mapper_file, register_mapper
from latentedit.testing.fake_plugins import isolate_plugins
from latentedit.training.config import build_run_config
from latentedit.training.runlog import read_log
from latentedit.training.toys import (ToyNoiseMapper, ToyShiftMapper, ToyStyleMapper, calibrated_judge,
                                      tiny_generator)
from latentedit.training.trainer import MapperTrainer

FAST = {"batch": 8, "lr": 0.05, "ema_beta": 0.5, "progress": False, "sample_count": 3}


@pytest.fixture(scope="module")
def world():
    G = tiny_generator()
    return G, calibrated_judge(G, 2)


def train(tmp_path, G, judge, cls, name="toy", mapper=None, **trainer):
    run = build_run_config(name, cls, {"mapper": mapper or {}, "trainer": {**FAST, **trainer}})
    t = MapperTrainer(run, G, tmp_path, mapper_class=cls, classifier=judge)
    return t, t.train()


@torch.no_grad()
def flip_rate(mapper, G, judge, n=64, seed=123):
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    w = G.mapping(z, truncation_psi=0.7)
    src = (judge(G.synthesis(w)) > 0).float()
    edited = (judge(G.synthesis(mapper(w, target=1 - src))) > 0).float()
    return float((edited != src).float().mean())


def test_toy_mapper_learns_to_flip_the_classifier(tmp_path, monkeypatch, world):
    isolate_plugins(monkeypatch)
    register_mapper("toy-shift", ToyShiftMapper)
    G, judge = world
    t, summary = train(tmp_path, G, judge, ToyShiftMapper, name="toy-shift", steps=40, sample_interval=20,
                       checkpoint_interval=20)
    assert summary["step"] == 40 and summary["skipped_steps"] == 0
    assert flip_rate(ToyShiftMapper(None, t.info), G, judge) == 0.0  # the identity at init
    result = load_mapper_file(tmp_path / "mapper_ema.safetensors")
    assert isinstance(result, ToyShiftMapper)
    assert flip_rate(result, G, judge) >= 0.9
    log = read_log(tmp_path / "log.jsonl")
    losses = [line["losses"]["attribute"] for line in log if "losses" in line]
    assert losses[-1] < 0.25 * losses[0]
    assert {"start", "checkpoint", "samples", "done"} <= {line.get("event") for line in log}
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["step0000020.png", "step0000040.png"]
    from PIL import Image

    side = 3 * (16 + 2) + 2  # 3 columns (sample_count) x 3 rows (source + one edit per attribute), 16 px, 2 px pad
    assert Image.open(tmp_path / "samples" / "step0000040.png").size == (side, side)
    stored = json.loads((tmp_path / "config.json").read_text())
    assert stored["mapper_name"] == "toy-shift" and stored["trainer"]["steps"] == 40


def test_noise_mapper_with_cycles_and_diversity(tmp_path, world):
    G, judge = world
    _, summary = train(tmp_path, G, judge, ToyNoiseMapper, mapper={"z_dim": 4}, steps=3, noise_mode="random",
                       loss_weights={"latent_cycle": 1.0, "image_cycle": 1.0, "neighbourhood": 0.01},
                       mixing_prob=0.5, max_flips=2)
    assert set(summary["losses"]) == {"attribute", "latent_l2", "diversity", "latent_cycle", "image_cycle",
                                      "neighbourhood"}
    assert summary["losses"]["diversity"] <= 0  # negative distance


def test_style_mapper_uses_its_encode_style_hook(tmp_path, world, monkeypatch):
    from latentedit.stylegan2 import precision

    G, judge = world
    monkeypatch.setattr(precision, "native_cpu_bf16", lambda: False)
    with pytest.warns(RuntimeWarning, match=r"trainer.amp=bf16: bf16 on this CPU .* is emulated"):
        t, summary = train(tmp_path, G, judge, ToyStyleMapper, mapper={"style_dim": 3}, steps=2,
                           loss_weights={"latent_cycle": 1.0}, amp="bf16")  # autocast works on CPU too
    assert summary["skipped_steps"] == 0
    assert t.mapper.style_encoder.weight.grad is not None  # the reference style came through the hook


def test_joint_discriminator_mode(tmp_path, world):
    G, judge = world
    t, summary = train(tmp_path, G, judge, ToyShiftMapper, steps=3, discriminator="joint",
                       loss_weights={"adversarial": 0.5, "r1": 1.0}, d_channels=[4, 8])
    log = [line for line in read_log(tmp_path / "log.jsonl") if "d_losses" in line]
    assert set(log[-1]["d_losses"]) == {"d_adv", "d_cls", "d_r1"}
    assert all(torch.isfinite(p).all() for p in t.D.parameters())


@pytest.mark.parametrize("judge_mode", ["discriminator", "classifier"])
def test_joint_attribute_judge_chooses_what_scores_the_attribute_loss(tmp_path, world, judge_mode):
    G, judge = world
    run = build_run_config("toy", ToyShiftMapper, {"trainer": {
        **FAST, "steps": 1, "discriminator": "joint", "joint_attribute_judge": judge_mode, "d_channels": [4, 8],
        "loss_weights": {"adversarial": 0.5, "r1": 1.0}}})
    t = MapperTrainer(run, G, tmp_path, mapper_class=ToyShiftMapper, classifier=judge)
    batch = t.runner.make_batch(0)
    with torch.no_grad():
        before = t.objective(batch)
        t.D.classify.weight.add_(3.0)  # a different attribute head; the real/fake head is untouched
        after = t.objective(batch)
    assert torch.equal(before["adversarial"], after["adversarial"])
    if judge_mode == "classifier":  # the frozen classifier scores it, with its margin: D's head is not read
        assert "attribute" in t.losses and torch.equal(before["attribute"], after["attribute"])
    else:
        assert "attribute" not in t.losses and not torch.allclose(before["attribute"], after["attribute"])


def test_joint_discriminator_for_realism_with_the_classifier_as_judge_learns_to_flip(tmp_path, world):
    G, judge = world
    t, summary = train(tmp_path, G, judge, ToyShiftMapper, steps=40, discriminator="joint",
                       joint_attribute_judge="classifier", loss_weights={"adversarial": 0.1, "r1": 1.0},
                       d_channels=[4, 8])
    assert summary["skipped_steps"] == 0 and {"attribute", "adversarial"} <= set(summary["losses"])
    assert flip_rate(t.ema, G, judge) >= 0.9


def test_init_mapper_starts_from_a_saved_mapper_and_refuses_another_architecture(tmp_path, monkeypatch, world):
    isolate_plugins(monkeypatch)
    register_mapper("toy-noise", ToyNoiseMapper)
    G, judge = world
    first, _ = train(tmp_path / "a", G, judge, ToyNoiseMapper, name="toy-noise", mapper={"z_dim": 3}, steps=3)
    saved = load_mapper_file(tmp_path / "a" / "mapper_ema.safetensors")
    run = build_run_config("toy-noise", ToyNoiseMapper, {"mapper": {"z_dim": 3}, "trainer": {
        **FAST, "steps": 1, "init_mapper": str(tmp_path / "a" / "mapper_ema.safetensors")}})
    t = MapperTrainer(run, G, tmp_path / "b", mapper_class=ToyNoiseMapper, classifier=judge)
    fresh = ToyNoiseMapper(ToyNoiseMapper.config_class(z_dim=3), t.info)
    assert any(not torch.equal(v, fresh.state_dict()[k]) for k, v in saved.state_dict().items())
    for k, v in saved.state_dict().items():  # the run starts from the file, its EMA too
        assert torch.equal(t.mapper.state_dict()[k], v) and torch.equal(t.ema.state_dict()[k], v)
    other = build_run_config("toy-noise", ToyNoiseMapper, {"mapper": {"z_dim": 5}, "trainer": {
        **FAST, "steps": 1, "init_mapper": str(tmp_path / "a" / "mapper_ema.safetensors")}})
    with pytest.raises(ConfigError, match="another architecture"):
        MapperTrainer(other, G, tmp_path / "c", mapper_class=ToyNoiseMapper, classifier=judge)


def test_w_plus_files_as_the_source(tmp_path, world):
    G, judge = world
    w = G.mapping(torch.randn(5, G.z_dim), truncation_psi=0.7)
    save_latents(tmp_path / "lat" / "a.safetensors", w, space="w_plus", generator=G)
    _, summary = train(tmp_path / "run", G, judge, ToyShiftMapper, steps=2, latents=str(tmp_path / "lat"))
    assert summary["step"] == 2


def test_existing_run_needs_resume(tmp_path, world):
    G, judge = world
    train(tmp_path, G, judge, ToyShiftMapper, steps=1)
    with pytest.raises(FileExistsError, match="--resume"):
        train(tmp_path, G, judge, ToyShiftMapper, steps=2)
