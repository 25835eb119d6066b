"""``widen_generator``: more channels, the same images, the same W."""

from __future__ import annotations

import pytest
import torch

from latentedit.training.toys import tiny_generator
from latentedit_toyfaces.recipes.widen_synthesis import widen_generator


def _trained_looking(G):
    """Move every bias and the noise strengths off their initial values, so a copy that drops them shows."""
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("bias") or name.endswith("noise_strength"):
                p.add_(torch.randn_like(p) * 0.3)
    return G


def test_the_wider_generator_draws_the_same_images_and_keeps_w():
    torch.manual_seed(0)
    G = _trained_looking(tiny_generator(16, z_dim=8, w_dim=8)).double()
    old = G.config.channels
    wide_channels = tuple(c + 3 * (i + 1) for i, c in enumerate(old))
    W = widen_generator(G, wide_channels, seed=1)  # built in G's dtype: float64 here
    assert W.config.channels == wide_channels and W.config.w_dim == G.config.w_dim
    z = torch.randn(5, 8, dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(W.mapping(z), G.mapping(z))
        ws = G.mapping(z) + 0.3 * torch.randn(5, G.num_ws, 8, dtype=torch.float64)
        noise = G.synthesis.make_noise(5, torch.Generator().manual_seed(2))
        noise = [n.double() for n in noise]
        for kw in ({"noise_mode": "const"}, {"noise": noise}):
            a, b = G.synthesis(ws, **kw), W.synthesis(ws, **kw)
            assert torch.allclose(a, b, atol=1e-10), (a - b).abs().max()
    assert sum(p.numel() for p in W.parameters()) > sum(p.numel() for p in G.parameters())
    # the new channels are live: a gradient reaches every new weight through the next layer's zero columns
    W.float().requires_grad_(True)
    W.synthesis(ws.float()).square().mean().backward()
    last = W.synthesis.blocks[-1]
    assert last.torgb.weight.grad[:, old[-1]:].abs().sum() > 0
    assert last.conv1.weight.grad[:, old[-1]:].abs().sum() > 0


def test_widening_refuses_narrower_or_misshapen_tables():
    G = tiny_generator(16, z_dim=8, w_dim=8)
    chans = G.config.channels
    with pytest.raises(ValueError, match="would shrink"):
        widen_generator(G, (chans[0] - 1,) + chans[1:])
    with pytest.raises(ValueError, match=f"must hold {len(chans)} widths"):
        widen_generator(G, chans[:-1])
