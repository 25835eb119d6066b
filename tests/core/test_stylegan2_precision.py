"""The bf16 precision policy of synthesis and the skipped zero-strength noise."""

from __future__ import annotations

import torch

from latentedit.stylegan2 import Generator, GeneratorConfig
from latentedit.stylegan2.precision import MixedPrecision, keep_fp32, mixed_precision, policy


def tiny(seed=0, strength=0.3):
    torch.manual_seed(seed)
    G = Generator(GeneratorConfig(resolution=16, channels=(16, 16, 8), z_dim=8, w_dim=8, mapping_layers=2)).eval()
    for layer in G.synthesis.noise_layers():
        layer.noise_strength.data.fill_(strength)
    return G


def _psnr(a, b):
    return 10 * torch.log10(4 / (a.float() - b.float()).square().mean()).item()


def test_default_policy_and_keep_fp32():
    p = policy()
    assert p == MixedPrecision() and p.modulation and p.torgb and p.upconv_from is None
    assert keep_fp32("modulation") and keep_fp32("torgb")
    assert not keep_fp32("upconv", 1024) and not keep_fp32("conv", 1024)
    with mixed_precision(upconv_from=512):
        assert keep_fp32("upconv", 1024) and keep_fp32("upconv", 512) and not keep_fp32("upconv", 256)
    with mixed_precision(from_resolution=64, upconv_from=None):
        assert keep_fp32("conv", 64) and not keep_fp32("conv", 32) and not keep_fp32("upconv", 32)
    assert policy() == MixedPrecision()


def test_fp32_islands_under_autocast_are_closer_to_fp32():
    G = tiny()
    ws = G.mapping(torch.randn(3, 8)).detach()
    with torch.no_grad():
        ref = G.synthesis(ws)
        with mixed_precision(modulation=False, torgb=False, upconv_from=None), torch.autocast("cpu", torch.bfloat16):
            bare = G.synthesis(ws)
        with torch.autocast("cpu", torch.bfloat16):
            mixed = G.synthesis(ws)
        with mixed_precision(from_resolution=4), torch.autocast("cpu", torch.bfloat16):
            full = G.synthesis(ws)
    assert bare.dtype == torch.bfloat16 and mixed.dtype == torch.float32   # ToRGB (the image path) stays fp32
    assert _psnr(mixed, ref) > _psnr(bare, ref) + 1.5
    torch.testing.assert_close(full, ref, rtol=1e-5, atol=1e-5)            # every layer in fp32: fp32 result


def test_policy_does_nothing_outside_autocast():
    G = tiny()
    ws = G.mapping(torch.randn(2, 8)).detach()
    with torch.no_grad():
        a = G.synthesis(ws)
        with mixed_precision(modulation=False, torgb=False, from_resolution=4):
            b = G.synthesis(ws)
    assert torch.equal(a, b)


def test_zero_strength_noise_is_skipped_but_keeps_its_gradient():
    G = tiny(strength=0.0)
    ws = G.mapping(torch.randn(2, 8)).detach()
    with torch.no_grad():
        a = G.synthesis(ws, noise_mode="const")
        b = G.synthesis(ws, noise_mode="none")
    assert torch.equal(a, b)
    layer = G.synthesis.noise_layers()[-1]
    G.synthesis(ws, noise_mode="const").square().sum().backward()
    assert layer.noise_strength.grad is not None and layer.noise_strength.grad.abs().item() > 0


def test_noise_keeps_a_bf16_activation_in_bf16():
    G = tiny()
    layer = G.synthesis.b8.conv1
    x = torch.randn(1, 16, 8, 8)
    with torch.no_grad(), mixed_precision(upconv_from=None), torch.autocast("cpu", torch.bfloat16):
        y = layer(x.bfloat16(), torch.randn(1, 8), "const")
    assert y.dtype == torch.bfloat16


def test_backward_through_the_fp32_islands_under_autocast():
    G = tiny()
    ws = G.mapping(torch.randn(2, 8)).detach().requires_grad_(True)
    with mixed_precision(upconv_from=8), torch.autocast("cpu", torch.bfloat16):
        img = G.synthesis(ws)
    (g,) = torch.autograd.grad(img.float().square().mean(), ws)
    (ref,) = torch.autograd.grad(G.synthesis(ws).square().mean(), ws)
    assert torch.isfinite(g).all() and torch.nn.functional.cosine_similarity(g.flatten(), ref.flatten(), dim=0) > 0.99
