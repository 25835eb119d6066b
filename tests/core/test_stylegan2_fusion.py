"""The oneDNN conv + bias + leaky-ReLU fusion of CPU inference against the plain path it replaces."""

from __future__ import annotations

import pytest
import torch

import latentedit.stylegan2.onednn_fusion as fusion
from latentedit import ops
from latentedit.stylegan2 import Generator, GeneratorConfig
from latentedit.stylegan2.layers import modulated_conv2d

pytestmark = pytest.mark.skipif(fusion._OP is None or not torch.backends.mkldnn.is_available(),
                                reason="this torch build has no oneDNN convolution_pointwise op")


def _plain(x, weight, styles, bias):
    return ops.fused_bias_act(modulated_conv2d(x, weight, styles, fused=True), bias, act="lrelu")


@pytest.mark.parametrize("batch,channels,size", [(1, (8, 6), 16), (3, (5, 7), 20)])
def test_fused_layer_equals_conv_then_bias_act(batch, channels, size):
    torch.manual_seed(batch)
    i, o = channels
    x, weight = torch.randn(batch, i, size, size), torch.randn(o, i, 3, 3)
    styles, bias = torch.randn(batch, i) + 1, torch.randn(o)
    with torch.no_grad():
        y = fusion.modulated_conv2d_lrelu(x, weight, styles, bias)
        ref = _plain(x, weight, styles, bias)
    assert y is not None and y.shape == (batch, o, size, size)
    assert (ref < 0).any()  # the negative slope is exercised
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)


def test_fusion_declines_what_it_cannot_compute(monkeypatch):
    x, weight, styles, bias = torch.randn(1, 4, 8, 8), torch.randn(4, 4, 3, 3), torch.randn(1, 4), torch.randn(4)
    assert fusion.fusion_applies(x, weight, styles, bias)
    w_grad = weight.clone().requires_grad_()
    assert not fusion.fusion_applies(x, w_grad, styles, bias)           # training: no autograd formula
    with torch.no_grad():
        assert fusion.fusion_applies(x, w_grad, styles, bias)
    assert not fusion.fusion_applies(x.double(), weight.double(), styles.double(), bias.double())
    with torch.autocast("cpu", torch.bfloat16):
        assert not fusion.fusion_applies(x, weight, styles, bias)
    wide = torch.randn(1, 64, 2, 2)                                      # weights larger than activations
    assert not fusion.fusion_applies(wide, torch.randn(64, 64, 3, 3), torch.randn(1, 64), bias)
    assert not fusion.fusion_applies(x, torch.randn(4, 4, 1, 1), styles, bias)
    monkeypatch.setenv("LATENTEDIT_OPS", "ref")
    assert not fusion.fusion_applies(x, weight, styles, bias)
    assert fusion.modulated_conv2d_lrelu(x, weight, styles, bias) is None


def _generator(strength):
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(resolution=32, channels=(16, 16, 12, 8), z_dim=8, w_dim=8,
                                  mapping_layers=2)).eval()
    for layer in G.synthesis.noise_layers():
        layer.noise_strength.data.fill_(strength)
    return G


@pytest.mark.parametrize("noise_mode", ["const", "random", "none"])
def test_synthesis_with_and_without_fusion_agree(monkeypatch, noise_mode):
    G = _generator(0.0)
    ws = G.mapping(torch.randn(2, 8)).detach()
    calls = []
    real = fusion._OP
    monkeypatch.setattr(fusion, "_OP", lambda *a: calls.append(1) or real(*a))

    def run(op):
        monkeypatch.setattr(fusion, "_OP", op)
        torch.manual_seed(5)
        with torch.no_grad():
            img = G.synthesis(ws, noise_mode=noise_mode)
        return img, torch.randn(3)          # the random stream after the pass

    counted = fusion._OP
    fused, after_fused = run(counted)
    plain, after_plain = run(None)
    assert len(calls) >= 2  # the fused path ran (non-4x4 conv1 layers, zero noise strength)
    torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-5)
    assert torch.equal(after_fused, after_plain)


def test_layers_that_add_noise_keep_the_plain_path(monkeypatch):
    G = _generator(0.2)
    ws = G.mapping(torch.randn(1, 8)).detach()
    monkeypatch.setattr(fusion, "_OP", lambda *a: pytest.fail("fused a layer that adds noise"))
    with torch.no_grad():
        G.synthesis(ws, noise_mode="const")
    # without noise every conv1 layer above 4x4 fuses
    calls = []
    monkeypatch.setattr(fusion, "_OP", lambda *a: calls.append(1) or torch.ops.mkldnn._convolution_pointwise(*a))
    with torch.no_grad():
        G.synthesis(ws, noise_mode="none")
    assert len(calls) == 2  # 16 and 32 px (at 8 px the per-sample weights outweigh the activations: unfused)


def test_a_changed_private_op_falls_back_with_one_warning(monkeypatch):
    def broken(*a):
        raise RuntimeError("mkldnn::_convolution_pointwise() expected 12 arguments")

    monkeypatch.setattr(fusion, "_OP", broken)
    x, weight, styles, bias = torch.randn(1, 4, 8, 8), torch.randn(4, 4, 3, 3), torch.randn(1, 4), torch.randn(4)
    with torch.no_grad(), pytest.warns(RuntimeWarning, match="fused convolution is unusable.*expected 12 arguments"):
        assert fusion.modulated_conv2d_lrelu(x, weight, styles, bias) is None
    assert fusion._OP is None  # disabled for the rest of the process (monkeypatch restores it after the test)
