"""Tiny ISF training runs: target success against a frozen classifier rises from ~0 (the residual mapper starts near
identity) to well above chance (0.5) in a few CPU-seconds — with the shared trainer (full targets), and with a
minimal loop that uses the ``condition_target`` hook (NaN = keep targets)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from torch import nn

try:
    import latentedit_isf  # noqa: F401
except ImportError:  # the editable install predates the plugin folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from latentedit.losses import DiversityLoss, attribute_loss, neighbourhood_loss
from latentedit.plugins import GeneratorInfo
from latentedit_isf import ISFConfig, ISFMapper
from tests.conftest import tiny_generator


def _classifier(G, n=512):
    """A frozen 2-attribute classifier on pooled colours, calibrated so each label is true for half the samples."""
    torch.manual_seed(1)
    clf = nn.Sequential(nn.AvgPool2d(4), nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    with torch.no_grad():
        x = G.synthesis(G.mapping(torch.randn(n, G.z_dim)), noise_mode="const")
        logits = clf(x)
        clf[2].weight.div_(logits.std(0, keepdim=True).T)
        clf[2].bias.div_(logits.std(0))
        clf[2].bias.sub_(clf(x).median(0).values)
    return clf.eval().requires_grad_(False)


@torch.no_grad()
def _success(mapper, G, clf, w, *, keep_as_nan=True):
    """Share of (latent, attribute) edits to the opposite label that the classifier reads as done; the other
    attributes are NaN (keep) or their source labels."""
    x = G.synthesis(w, noise_mode="const")
    src = (clf(x) > 0).float()
    hits = []
    for a in range(src.shape[1]):
        target = torch.full_like(src, float("nan")) if keep_as_nan else src.clone()
        target[:, a] = 1 - src[:, a]
        out = clf(G.synthesis(mapper(w, target=target, z=mapper.sample_noise(len(w))), noise_mode="const"))
        hits.append(((out[:, a] > 0).float() == target[:, a]).float().mean())
    return float(torch.stack(hits).mean())


def test_shared_trainer_raises_isf_target_success_well_above_chance(tmp_path):
    from latentedit.plugins import load_mapper_file, registered_mapper
    from latentedit.training.config import build_run_config
    from latentedit.training.toys import calibrated_judge
    from latentedit.training.toys import tiny_generator as toy_generator
    from latentedit.training.trainer import MapperTrainer

    start = time.process_time()
    G = toy_generator()
    judge = calibrated_judge(G, 2)
    off = {"lpips": 0.0, "lpips_cycle": 0.0, "adversarial": 0.0, "r1": 0.0, "image_cycle": 0.0}
    trainer = {**ISFMapper.default_trainer_config(), "steps": 80, "batch": 16, "lr": 3e-3, "ema_beta": 0.8,
               "discriminator": "frozen", "weight_decay": 0.0, "mixing_prob": 0.0, "max_flips": 1,
               "loss_weights": off, "losses": {"diversity_decay_steps": 80}, "progress": False,
               "sample_interval": 0, "sample_count": 0, "checkpoint_interval": 0}
    with registered_mapper("isf", ISFMapper):
        run = build_run_config("isf", ISFMapper, {"mapper": {"z_dim": 4, "hidden_dim": 32}, "trainer": trainer})
        summary = MapperTrainer(run, G, tmp_path, classifier=judge).train()
        result = load_mapper_file(tmp_path / "mapper_ema.safetensors").eval()
    assert summary["skipped_steps"] == 0 and -0.01 < summary["losses"]["diversity"] <= 0  # weight decayed to ~0
    held_out = G.mapping(torch.randn(128, G.z_dim, generator=torch.Generator().manual_seed(99)), truncation_psi=0.7)
    before = _success(ISFMapper(result.config, result.generator_info).eval(), G, judge, held_out, keep_as_nan=False)
    after = _success(result, G, judge, held_out, keep_as_nan=False)
    assert before < 0.3 and after > 0.85, (before, after)
    assert time.process_time() - start < 60


def test_minimal_loop_with_condition_target_learns_nan_means_keep():
    start = time.process_time()
    G = tiny_generator(resolution=16).requires_grad_(False)
    clf = _classifier(G)
    gi = GeneratorInfo.from_generator(G, ("a", "b"))
    torch.manual_seed(0)
    mapper = ISFMapper(ISFConfig(z_dim=4, hidden_dim=32), gi)
    weights = ISFMapper.default_loss_weights()
    diversity = DiversityLoss(weight=weights["diversity"] * 0.05, decay_steps=150)
    opt = torch.optim.Adam(mapper.parameters(), lr=3e-3, betas=(0.0, 0.99))
    held_out = G.mapping(torch.randn(256, G.z_dim, generator=torch.Generator().manual_seed(99)))
    mapper.eval()
    before = _success(mapper, G, clf, held_out)
    mapper.train()
    for step in range(150):
        with torch.no_grad():
            w = G.mapping(torch.randn(32, G.z_dim))
            src = (clf(G.synthesis(w, noise_mode="const")) > 0).float()
        full = src.clone()
        flip = torch.randint(0, 2, (cfg_batch := src.shape[0],))
        full[torch.arange(cfg_batch), flip] = 1 - full[torch.arange(cfg_batch), flip]
        target = mapper.condition_target(full, src)
        z1, z2 = mapper.sample_noise(32), mapper.sample_noise(32)
        w1, w2 = mapper(w, target=target, z=z1), mapper(w, target=target, z=z2)
        loss = (weights["attribute"] * attribute_loss(clf(G.synthesis(w1, noise_mode="const")), full)
                + weights["neighbourhood"] * neighbourhood_loss(w1, w)
                + diversity(w1, w2, step=step))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(mapper.parameters(), 1.0)
        opt.step()
    mapper.eval()
    after, after_full = _success(mapper, G, clf, held_out), _success(mapper, G, clf, held_out, keep_as_nan=False)
    assert before < 0.3, before  # near identity at the start: almost nothing flips
    assert after > 0.85 and after_full > 0.85, (before, after, after_full)  # chance is 0.5
    assert time.process_time() - start < 60


def test_isf_recipe_runs_with_the_joint_discriminator(tmp_path):
    from latentedit.training.config import build_run_config
    from latentedit.training.runlog import read_log
    from latentedit.training.toys import calibrated_judge
    from latentedit.training.toys import tiny_generator as toy_generator
    from latentedit.training.trainer import MapperTrainer

    G = toy_generator()
    trainer = {**ISFMapper.default_trainer_config(), "steps": 3, "batch": 4, "d_channels": [4, 8], "progress": False,
               "sample_interval": 0, "sample_count": 0, "loss_weights": {"lpips": 0.0, "lpips_cycle": 0.0}}
    run = build_run_config("isf", ISFMapper, {"mapper": {"z_dim": 4, "hidden_dim": 8}, "trainer": trainer})
    summary = MapperTrainer(run, G, tmp_path, mapper_class=ISFMapper, classifier=calibrated_judge(G, 2)).train()
    assert summary["skipped_steps"] == 0
    assert {"attribute", "adversarial", "latent_cycle", "image_cycle", "diversity", "neighbourhood"} <= set(
        summary["losses"])
    d_log = [line["d_losses"] for line in read_log(tmp_path / "log.jsonl") if "d_losses" in line]
    assert d_log and set(d_log[-1]) == {"d_adv", "d_cls", "d_r1"}
