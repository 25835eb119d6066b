"""Refinement of inverted codes and the latent discriminator's W pool."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from latentedit_e4e.latent_disc import LatentCodesDiscriminator, WPool
from latentedit_e4e.refine import noise_regularisation, refine_w_plus
from tests.conftest import tiny_generator



def test_refine_lowers_the_error_and_leaves_the_generator_alone():
    G = tiny_generator(16)
    before = {k: v.clone() for k, v in G.state_dict().items()}
    with torch.no_grad():
        w0 = G.mapping(torch.randn(2, 8))
        target = G.synthesis(G.mapping(torch.randn(2, 8)), noise_mode="const")
    w = refine_w_plus(w0, target, G, steps=30, lpips_weight=0.0, lr=0.05)
    with torch.no_grad():
        assert F.mse_loss(G.synthesis(w), target) < 0.5 * F.mse_loss(G.synthesis(w0), target)
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in before.items())
    assert not any(p.requires_grad for p in G.parameters()) or all(p.requires_grad for p in G.parameters())
    w2, noise = refine_w_plus(w0, target, G, steps=3, lpips_weight=0.0, noise=True, return_noise=True)
    assert w2.shape == w0.shape and len(noise) == G.num_ws - 1
    assert all(abs(float(n.std()) - 1) < 0.05 for n in noise if n.numel() > 16)  # renormalised each step


def test_refine_uses_a_given_lpips_model_and_checks_shapes():
    G = tiny_generator(16)
    calls = []

    def fake_lpips(a, b):
        calls.append(a.shape)
        return (a - b).abs().mean(dim=(1, 2, 3))

    w0 = G.mapping(torch.randn(1, 8)).detach()
    refine_w_plus(w0, torch.zeros(1, 3, 32, 32), G, steps=2, lpips_model=fake_lpips)  # target resized to 16
    assert calls == [(1, 3, 16, 16)] * 2
    with pytest.raises(ValueError, match="target must be \\(B=1, 3, H, W\\)"):
        refine_w_plus(w0, torch.zeros(2, 3, 16, 16), G, steps=1, lpips_weight=0.0)


def test_noise_regularisation_prefers_white_noise():
    white = [torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))]
    smooth = [F.interpolate(torch.randn(1, 1, 4, 4), size=(16, 16), mode="bilinear")]
    assert noise_regularisation(white) < noise_regularisation(smooth)


def test_w_pool_fills_then_mixes_history():
    torch.manual_seed(0)
    pool = WPool(3, 2)
    first = torch.arange(6.0).reshape(3, 2)
    assert torch.equal(pool.query(first), first) and int(pool.count) == 3
    new = torch.full((50, 2), -1.0)
    out = pool.query(new)
    old_rows = (out >= 0).all(dim=1).sum()
    assert 0 < old_rows <= 3  # some rows come from history (each old code is handed out once)
    assert torch.equal(WPool(0, 2).query(new), new)
    d = LatentCodesDiscriminator(2, 4)
    assert d(out).shape == (50, 1) and len([m for m in d.mlp if isinstance(m, torch.nn.Linear)]) == 4
