"""Which evaluation order a modulated convolution takes (per-sample weights or modulated activations), and that
both give the same values and gradients."""

from __future__ import annotations

import pytest
import torch

from latentedit.stylegan2.layers import modulated_conv2d, use_sample_weights


def _args(batch, requires_grad):
    g = torch.Generator().manual_seed(batch)
    x = torch.randn(batch, 6, 16, 16, generator=g, dtype=torch.float64)  # activations far larger than the weight
    weight = torch.randn(5, 6, 3, 3, generator=g, dtype=torch.float64)
    styles = (torch.rand(batch, 6, generator=g, dtype=torch.float64) + 0.5).requires_grad_(requires_grad)
    return x, weight, styles


def test_batches_with_a_gradient_through_a_frozen_weight_modulate_the_activations():
    x, weight, styles = _args(2, True)
    assert not use_sample_weights(2, weight, x, styles)       # a mapper's or an inversion's backward
    with torch.no_grad():
        assert use_sample_weights(2, weight, x, styles)       # inference: the size rule
    assert use_sample_weights(1, weight, x, styles)           # batch 1: the size rule
    assert use_sample_weights(2, weight.requires_grad_(True), x, styles)  # the weight's gradient too: the size rule
    assert use_sample_weights(2, weight.detach(), x, styles.detach())     # no gradient at all


@pytest.mark.parametrize("up", [1, 2])
def test_both_orders_give_the_same_values_and_gradients(up):
    x, weight, styles = _args(3, True)
    x.requires_grad_(True)
    assert not use_sample_weights(3, weight, x, styles)
    outs = []
    for fused in (True, None):  # None picks the activation order here (see above)
        y = modulated_conv2d(x, weight, styles, up=up, fused=fused)
        outs.append((y, *torch.autograd.grad(y.square().sum(), (x, styles))))
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
