"""Network behaviour: shapes over sizes, modulated conv against the per-sample-weight definition, truncation,
mixing, noise modes, discriminator, gradients (incl. second order for R1)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from latentedit import ops
from latentedit.stylegan2 import (Discriminator, DiscriminatorConfig, GeneratorConfig, channels_from_base,
                                  channels_from_multiplier)
from latentedit.stylegan2.discriminator import minibatch_stddev
from latentedit.stylegan2.layers import modulated_conv2d
from tests.conftest import tiny_generator


def grouped_modconv_definition(x, weight, styles, demodulate=True, up=1):
    """The paper's definition: a per-sample weight w*s, normalised, applied as a grouped conv (float64)."""
    b, i, h, w = x.shape
    o = weight.shape[0]
    wt = weight[None] * styles[:, None, :, None, None]                 # (B, O, I, k, k)
    if demodulate:
        wt = wt * (wt.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8).rsqrt()
    if up == 1:
        k = weight.shape[-1]
        y = F.conv2d(x.reshape(1, b * i, h, w), wt.reshape(b * o, i, k, k), padding=k // 2, groups=b)
        return y.reshape(b, o, h, w)
    wt = wt.transpose(1, 2).reshape(b * i, o, 3, 3)
    y = F.conv_transpose2d(x.reshape(1, b * i, h, w), wt, stride=2, groups=b).reshape(b, o, 2 * h + 1, 2 * w + 1)
    f = ops.setup_filter([1, 3, 3, 1], separable=False).double()
    return ops.upfirdn2d(y, f, padding=1, gain=4)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_matches_per_sample_weight_definition(up, demodulate, fused):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 5, 7, 7, generator=g, dtype=torch.float64)
    w = torch.randn(4, 5, 3, 3, generator=g, dtype=torch.float64)
    s = torch.randn(3, 5, generator=g, dtype=torch.float64)
    ours = modulated_conv2d(x, w, s, demodulate=demodulate, up=up, fused=fused)
    ref = grouped_modconv_definition(x, w, s, demodulate=demodulate, up=up)
    assert ours.shape == ref.shape == (3, 4, 7 * up, 7 * up)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("demodulate", [True, False])
def test_1x1_modulated_conv_matches_the_definition_with_its_gradients(demodulate):
    # ToRGB's kernel: on CPU a batched matrix product, not a convolution (values and gradients must not change)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 5, 6, 7, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 5, 1, 1, generator=g, dtype=torch.float64, requires_grad=True)
    s = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    up = torch.randn(3, 4, 6, 7, generator=g, dtype=torch.float64)
    ours = modulated_conv2d(x, w, s, demodulate=demodulate)
    grads = torch.autograd.grad((ours * up).sum(), (x, w, s))
    ref = grouped_modconv_definition(x, w, s, demodulate=demodulate)
    ref_grads = torch.autograd.grad((ref * up).sum(), (x, w, s))
    assert ours.shape == ref.shape == (3, 4, 6, 7)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)
    for a, b in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_modulated_conv_rejects_mismatched_styles():
    with pytest.raises(ValueError, match=r"styles \(B, 5\)"):
        modulated_conv2d(torch.zeros(2, 5, 4, 4), torch.zeros(3, 5, 3, 3), torch.zeros(2, 4))


@pytest.mark.parametrize("resolution", [8, 16, 64])
def test_generator_shapes_and_num_ws(resolution):
    G = tiny_generator(resolution=resolution)
    assert G.num_ws == 2 * int(math.log2(resolution)) - 2
    z = torch.randn(2, G.z_dim)
    img = G(z)
    assert img.shape == (2, 3, resolution, resolution)
    assert len(G.synthesis.noise_layers()) == G.num_ws - 1


def test_stock_channel_tables():
    config_f = (512, 512, 512, 512, 512, 256, 128, 64, 32)
    assert channels_from_base(1024) == config_f == channels_from_multiplier(1024, 2)
    assert channels_from_multiplier(256, 1) == (512, 512, 512, 512, 256, 128, 64)
    assert channels_from_base(64, channel_base=512, channel_max=32) == (32, 32, 32, 16, 8)
    assert GeneratorConfig(resolution=1024).num_ws == 18
    with pytest.raises(ValueError, match="power of two"):
        GeneratorConfig(resolution=100)
    with pytest.raises(ValueError, match="must hold 3 positive widths"):
        GeneratorConfig(resolution=16, channels=(8, 8))


def test_truncation_pulls_toward_w_avg_with_cutoff(tiny_G):
    z = torch.randn(3, tiny_G.z_dim)
    w = tiny_G.mapping(z)
    assert torch.equal(w[:, 0], w[:, -1])
    w0 = tiny_G.mapping(z, truncation_psi=0.0)
    torch.testing.assert_close(w0, tiny_G.mapping.w_avg.expand_as(w0))
    wc = tiny_G.mapping(z, truncation_psi=0.5, truncation_cutoff=2)
    torch.testing.assert_close(wc[:, :2], tiny_G.mapping.w_avg + 0.5 * (w[:, :2] - tiny_G.mapping.w_avg))
    torch.testing.assert_close(wc[:, 2:], w[:, 2:])


def test_noise_modes(tiny_G):
    ws = tiny_G.mapping(torch.randn(2, tiny_G.z_dim))
    const1, const2 = tiny_G.synthesis(ws, "const"), tiny_G.synthesis(ws, "const")
    assert torch.equal(const1, const2)
    none = tiny_G.synthesis(ws, "none")
    zeros = [torch.zeros(2, 1, l.resolution, l.resolution) for l in tiny_G.synthesis.noise_layers()]
    torch.testing.assert_close(tiny_G.synthesis(ws, noise=zeros), none)
    consts = [l.noise_const.expand(2, 1, -1, -1) for l in tiny_G.synthesis.noise_layers()]
    torch.testing.assert_close(tiny_G.synthesis(ws, noise=consts), const1)
    assert not torch.allclose(tiny_G.synthesis(ws, "random"), const1)
    with pytest.raises(ValueError, match="noise_mode"):
        tiny_G.synthesis(ws, "sometimes")
    with pytest.raises(ValueError, match="list of 5 tensors"):
        tiny_G.synthesis(ws, noise=zeros[:2])


def test_w_plus_shape_error_says_what_to_do(tiny_G):
    with pytest.raises(ValueError, match=r"w_plus must be \(B, 6, 8\); got \(4, 8\)"):
        tiny_G.synthesis(torch.zeros(4, 8))


def test_style_mixing_layers_follow_their_source(tiny_G):
    """Changing the late W vectors must not change the coarse ws' effect: mixing = swapping rows of W+."""
    from latentedit.latents import mix_styles

    wa = tiny_G.mapping(torch.randn(1, 8))
    wb = tiny_G.mapping(torch.randn(1, 8))
    m = mix_styles(wa, wb, 3)
    assert torch.equal(m[:, :3], wa[:, :3]) and torch.equal(m[:, 3:], wb[:, 3:])
    # The 4x4 block only sees ws 0 and 1: its features are identical for wa and the mix.
    b4 = tiny_G.synthesis.b4
    xa, _ = b4(None, None, wa[:, :2], "const", [None])
    xm, _ = b4(None, None, m[:, :2], "const", [None])
    assert torch.equal(xa, xm)


def test_minibatch_stddev_matches_definition():
    x = torch.randn(8, 6, 3, 3, dtype=torch.float64)
    y = minibatch_stddev(x, group_size=4, num_channels=2)
    assert y.shape == (8, 8, 3, 3)
    groups = x.reshape(4, 2, 2, 3, 3, 3)  # (G, B/G, F, C/F, H, W)
    expected = groups.std(dim=0, unbiased=False).add(0).pow(2).add(1e-8).sqrt().mean(dim=(2, 3, 4))  # (B/G, F)
    torch.testing.assert_close(y[1, 6:, 0, 0], expected[1])
    torch.testing.assert_close(y[5, 6:, 2, 1], expected[1])  # sample 5 is in subgroup 5 % 2 = 1
    with pytest.raises(ValueError, match="divisible"):
        minibatch_stddev(torch.randn(6, 4, 2, 2), group_size=4)


def test_discriminator_shapes_and_r1_double_backward():
    D = Discriminator(DiscriminatorConfig(resolution=16, channels=(8, 8, 8)))
    img = torch.randn(4, 3, 16, 16, requires_grad=True)
    logits = D(img)
    assert logits.shape == (4, 1)
    (grad,) = torch.autograd.grad(logits.sum(), img, create_graph=True)
    r1 = grad.square().sum()
    r1.backward()
    # Every weight shapes the input gradient (biases of a piecewise-linear net only move activation patterns).
    for name, p in D.named_parameters():
        if name.endswith("weight"):
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match=r"images must be \(B, 3, 16, 16\)"):
        D(torch.randn(4, 3, 8, 8))


def test_generator_float64_gradcheck_through_synthesis():
    G = tiny_generator(resolution=8, z_dim=4, w_dim=4, channels=[3, 3]).double()
    ws = G.mapping(torch.randn(1, 4, dtype=torch.float64)).detach().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda w: G.synthesis(w, "const"), (ws,), eps=1e-6, atol=1e-5)


def test_fingerprint_depends_on_weights(tiny_G):
    other = tiny_generator(seed=1)
    assert tiny_G.fingerprint() == tiny_generator().fingerprint()
    assert tiny_G.fingerprint() != other.fingerprint()


def test_z_to_w_without_normalisation_takes_an_already_normalised_z():
    from latentedit.stylegan2.layers import normalize_2nd_moment

    G = tiny_generator(resolution=16)
    z = 3 * torch.randn(4, G.z_dim, generator=torch.Generator().manual_seed(0))
    m = G.mapping
    torch.testing.assert_close(m.z_to_w(normalize_2nd_moment(z), normalize=False), m.z_to_w(z))
    assert not torch.allclose(m.z_to_w(z, normalize=False), m.z_to_w(z))
