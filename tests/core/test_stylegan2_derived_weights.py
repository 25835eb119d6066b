"""Weight-only quantities cached across inference passes: reused while the weight is unchanged, recomputed when it
changes, never cached when a gradient through the weight is wanted."""

from __future__ import annotations

import gc

import pytest
import torch
import torch.nn.functional as F

from latentedit.stylegan2 import layers
from latentedit.stylegan2.layers import clear_derived_weights, demodulation_coefs, kernel_energy, modulated_conv2d


@pytest.fixture
def weight():
    torch.manual_seed(0)
    return torch.nn.Parameter(torch.randn(6, 4, 3, 3))


def test_kernel_energy_is_reused_until_the_weight_changes(weight):
    with torch.no_grad():
        first = kernel_energy(weight)
        assert kernel_energy(weight) is first
        torch.testing.assert_close(first, weight.square().sum(dim=(2, 3)))
        weight.mul_(2)                                    # in place: the version counter moves
        second = kernel_energy(weight)
    assert second is not first
    torch.testing.assert_close(second, 4 * first)
    module = torch.nn.Module()
    module.weight = weight
    module.load_state_dict({"weight": torch.ones(6, 4, 3, 3)})
    with torch.no_grad():
        torch.testing.assert_close(kernel_energy(weight), torch.full((6, 4), 9.0))
    weight.data = torch.full((6, 4, 3, 3), 2.0)           # new storage (the version counter may not move)
    with torch.no_grad():
        torch.testing.assert_close(kernel_energy(weight), torch.full((6, 4), 36.0))
    weight.grad = torch.ones_like(weight)
    torch.optim.SGD([weight], lr=1.0).step()              # an optimizer step updates in place: 2 - 1 = 1
    with torch.no_grad():
        torch.testing.assert_close(kernel_energy(weight), torch.full((6, 4), 9.0))


def test_a_change_through_data_needs_clearing(weight):
    with torch.no_grad():
        before = kernel_energy(weight)
    weight.data.mul_(3)                                   # bypasses the version counter (documented)
    with torch.no_grad():
        assert kernel_energy(weight) is before
        clear_derived_weights()
        torch.testing.assert_close(kernel_energy(weight), 9 * before)


def test_with_a_gradient_nothing_is_cached_and_the_gradient_flows(weight):
    styles = torch.randn(2, 4)
    x = torch.randn(2, 4, 5, 5)
    d = demodulation_coefs(x, weight, styles)
    d.sum().backward()
    assert weight.grad is not None and weight.grad.abs().sum() > 0
    assert layers._DERIVED.get(weight) is None
    # the cached and the fresh value agree
    with torch.no_grad():
        torch.testing.assert_close(demodulation_coefs(x, weight, styles), d.detach())


def test_transposed_weight_of_the_up_convolution_is_cached_and_correct(weight):
    torch.manual_seed(1)
    x, styles = torch.randn(1, 4, 5, 5), torch.randn(1, 4)
    with torch.no_grad():
        y = modulated_conv2d(x, weight, styles, up=2, fused=False, filter_output=False)
        cached = layers._DERIVED[weight]["io"][1]
        y2 = modulated_conv2d(x, weight, styles, up=2, fused=False, filter_output=False)
        assert layers._DERIVED[weight]["io"][1] is cached
        d = demodulation_coefs(x, weight, styles)
        ref = F.conv_transpose2d(x * styles.reshape(1, 4, 1, 1), weight.transpose(0, 1), stride=2)
        ref = ref * d.reshape(1, 6, 1, 1)
    torch.testing.assert_close(y, ref)
    torch.testing.assert_close(y2, y)


def test_entries_go_with_their_weight():
    w = torch.randn(3, 2, 3, 3)
    with torch.no_grad():
        kernel_energy(w)
    n = len(layers._DERIVED)
    del w
    gc.collect()
    assert len(layers._DERIVED) == n - 1


def test_inference_tensors_are_never_cached():
    with torch.inference_mode():
        w = torch.randn(3, 2, 3, 3)
        first = kernel_energy(w)
        w.mul_(2)                                         # no version counter to notice this
        torch.testing.assert_close(kernel_energy(w), 4 * first)
    assert layers._DERIVED.get(w) is None


@pytest.mark.parametrize("fused", [True, False])
def test_up_convolution_gradients_go_through_the_transposed_weight(fused):
    torch.manual_seed(2)
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    s = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c: modulated_conv2d(a, b, c, up=2, fused=fused), (x, w, s))
    assert layers._DERIVED.get(w) is None


def test_a_bf16_weight_keeps_one_float32_energy_under_autocast():
    w = torch.randn(6, 4, 3, 3).to(torch.bfloat16)
    x, styles = torch.randn(2, 4, 5, 5), torch.randn(2, 4)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        d1 = demodulation_coefs(x, w, styles)
        d2 = demodulation_coefs(x, w, styles)
    entries = layers._DERIVED[w]
    assert list(entries) == ["energy/torch.float32"]                  # keyed by the weight, not a float copy
    torch.testing.assert_close(entries["energy/torch.float32"][1], w.float().square().sum(dim=(2, 3)))
    torch.testing.assert_close(d1, d2)
