"""The ``latent_attribute`` loss: a linear probe on W, fitted to the image classifier's labels, judges edited latents."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentedit.losses import LossSettings, build_loss_modules, fit_linear_probe, latent_attribute_loss, probe_logits
from latentedit.testing.fake_plugins import isolate_plugins
from latentedit.training.config import build_run_config
from latentedit.training.toys import ToyShiftMapper, calibrated_judge, tiny_generator
from latentedit.training.trainer import MapperTrainer


def test_the_probe_recovers_a_planted_boundary_on_raw_latents():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(2000, 6)) * np.array([3.0, 0.2, 1.0, 1.0, 5.0, 0.5]) + 2.0   # uneven scales, offset mean
    normal = np.array([0.0, 4.0, 1.0, 0.0, 0.0, 0.0])
    labels = np.stack([(w - 2.0) @ normal > 0.3, np.ones(2000, bool)], 1).astype(float)  # column 1: constant
    weight, bias, acc = fit_linear_probe(w, labels)
    assert acc[0] > 0.97 and acc[1] == 1.0
    cos = weight[0] @ normal / np.linalg.norm(weight[0]) / np.linalg.norm(normal)
    assert cos > 0.95                                          # folded back from standardised W to raw W
    logits = probe_logits(torch.from_numpy(w), torch.from_numpy(weight), torch.from_numpy(bias))
    assert ((logits[:, 0] > 0).numpy() == labels[:, 0].astype(bool)).mean() > 0.97
    assert bool((logits[:, 1] > 0).all()) and not weight[1].any()
    assert float(logits[:, 0].std()) == pytest.approx(1.0, rel=1e-3)   # logits in spreads of the signed distance
    with pytest.raises(ValueError, match=r"expected w \(N, w_dim\)"):
        fit_linear_probe(w[:, 0], labels)


def test_kept_attributes_are_held_where_they_were_and_flipped_ones_pushed_across():
    torch.manual_seed(0)
    weight, bias = torch.randn(3, 8, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    w_src = torch.randn(4, 5, 8, dtype=torch.float64)
    source = (probe_logits(w_src, weight, bias) > 0).double()
    target = source.clone()
    w_edit = w_src.clone().requires_grad_(True)
    latent_attribute_loss(w_edit, w_src, target, source, weight, bias).backward()
    assert float(w_edit.grad.abs().max()) < 1e-12               # nothing asked: the source is the optimum
    target[:, 1] = 1 - source[:, 1]                              # flip attribute 1 of every row
    w_edit.grad = None
    latent_attribute_loss(w_edit, w_src, target, source, weight, bias).backward()
    step = -w_edit.grad.mean(1)                                  # gradient descent direction on the mean code
    moved = (step @ weight[1]) * (2 * target[:, 1] - 1)         # towards the target side of boundary 1
    assert bool((moved > 0).all())
    with pytest.raises(ValueError, match="expected latents"):
        probe_logits(torch.zeros(2, 5, 7), weight, bias)


def test_per_layer_reading_is_not_fooled_by_moving_one_layer_far():
    """On the mean code, one W+ layer pushed far across the boundary satisfies the probe (a W+ mapper can move layers
    that barely change the image); read per layer, every layer must cross."""
    weight, bias = torch.tensor([[1.0, 0.0]]), torch.tensor([0.0])
    w_src = torch.full((1, 4, 2), -1.0)                 # every layer reads 'no'
    source, target = torch.zeros(1, 1), torch.ones(1, 1)
    one_layer = w_src.clone()
    one_layer[:, 0, 0] = 40.0                            # mean code: (40 - 3) / 4 > 0
    every_layer = w_src.clone()
    every_layer[..., 0] = 3.0
    mean = {n: float(latent_attribute_loss(w, w_src, target, source, weight, bias, per_layer=False))
            for n, w in (("one", one_layer), ("every", every_layer))}
    each = {n: float(latent_attribute_loss(w, w_src, target, source, weight, bias))
            for n, w in (("one", one_layer), ("every", every_layer))}
    assert mean["one"] < 0.05 and mean["every"] < 0.05
    assert each["one"] > 0.9 and each["every"] < 0.05
    assert probe_logits(w_src, weight, bias, per_layer=True).shape == (1, 4, 1)


def test_the_loss_needs_a_probe_and_checks_its_settings():
    with pytest.raises(ValueError, match="no latent probe was given"):
        build_loss_modules({"latent_attribute": 1.0})
    mods = build_loss_modules({"latent_attribute": 2.0}, latent_probe=(torch.zeros(2, 8), torch.zeros(2)))
    w = torch.zeros(3, 4, 8)
    t = torch.tensor([[1.0, 0.0]] * 3)
    assert float(mods["latent_attribute"](w, w, t, 1 - t)) == pytest.approx(2.0 * np.log(2.0))
    with pytest.raises(ValueError, match="latent_probe_samples must be an int >= 10"):
        LossSettings(latent_probe_samples=3)


def test_the_trainer_fits_the_probe_reproducibly_and_training_moves_latents_across_it(tmp_path, monkeypatch):
    isolate_plugins(monkeypatch)
    G = tiny_generator()
    judge = calibrated_judge(G, 2)
    cfg = {"trainer": {"batch": 8, "steps": 120, "lr": 3e-3, "progress": False, "sample_interval": 0,
                       "truncation_psi": 0.7, "loss_weights": {"attribute": 0.0, "latent_attribute": 1.0},
                       "losses": {"latent_probe_samples": 400}}}
    run = build_run_config("toy", ToyShiftMapper, cfg)
    t = MapperTrainer(run, G, tmp_path / "a", mapper_class=ToyShiftMapper, classifier=judge)
    again = MapperTrainer(run, G, tmp_path / "b", mapper_class=ToyShiftMapper, classifier=judge)
    assert torch.equal(t.probe["weight"], again.probe["weight"]) and min(t.probe["accuracy"]) > 0.6
    held_out = [t.runner.make_batch(10_000 + i) for i in range(6)]   # batches the run never trains on

    def success(mapper) -> float:
        hits = []
        for b in held_out:
            with torch.no_grad():
                logits = probe_logits(mapper(b.w_plus, target=b.target), t.probe["weight"], t.probe["bias"])
            hits.append(((logits > 0).float() == b.target)[b.target != b.source])
        return float(torch.cat(hits).float().mean())

    before = success(t.mapper)
    t.train()
    assert before < 0.2 and success(t.mapper) > 0.9
    events = [line for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines() if "latent_probe" in line]
    assert len(events) == 1
