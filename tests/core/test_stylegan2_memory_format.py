"""Channels-last synthesis (``LATENTEDIT_CHANNELS_LAST``): same images as NCHW, NHWC activations where promised,
NCHW whenever a gradient is needed, and the ``auto`` rule."""

from __future__ import annotations

import pytest
import torch

from latentedit.stylegan2 import memory_format
from latentedit.stylegan2.layers import channels_last_batch1
from latentedit.stylegan2.synthesis import SynthesisLayer
from tests.conftest import tiny_generator

CL = torch.channels_last


def _layouts(G):
    """Record, per synthesis layer, (resolution, output is channels-last and not plain contiguous)."""
    seen = []

    def hook(module, args, out):
        seen.append((module.resolution, out.is_contiguous(memory_format=CL) and not out.is_contiguous()))
    handles = [m.register_forward_hook(hook) for m in G.synthesis.modules() if isinstance(m, SynthesisLayer)]
    return seen, handles


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("noise_mode", ["const", "none"])
def test_channels_last_synthesis_matches_nchw_and_keeps_nhwc_from_its_resolution(monkeypatch, batch, noise_mode):
    G = tiny_generator(resolution=64, channels=[16, 16, 12, 8, 8])
    ws = G.mapping(torch.randn(batch, 8)).detach()
    with torch.no_grad():
        monkeypatch.setenv(memory_format.ENV, "0")
        ref = G.synthesis(ws, noise_mode=noise_mode)
        monkeypatch.setenv(memory_format.ENV, "1")
        seen, handles = _layouts(G)
        img = G.synthesis(ws, noise_mode=noise_mode)
        for h in handles:
            h.remove()
    torch.testing.assert_close(img, ref, rtol=1e-5, atol=1e-5)
    assert img.is_contiguous()  # the RGB image leaves NCHW either way
    assert seen and all(cl == (res >= memory_format.FROM_RESOLUTION) for res, cl in seen), seen


def test_a_pass_that_needs_a_gradient_stays_nchw(monkeypatch):
    G = tiny_generator(resolution=32)
    monkeypatch.setenv(memory_format.ENV, "1")
    ws = G.mapping(torch.randn(1, 8)).detach()
    assert not memory_format.channels_last_synthesis(ws, G.synthesis)  # the parameters require grad
    G.requires_grad_(False)
    assert memory_format.channels_last_synthesis(ws, G.synthesis)
    assert not memory_format.channels_last_synthesis(ws.clone().requires_grad_(True), G.synthesis)
    with torch.no_grad():
        assert memory_format.channels_last_synthesis(ws.clone().requires_grad_(True), G.synthesis)
    seen, handles = _layouts(G)
    ws_grad = ws.clone().requires_grad_(True)
    G.synthesis(ws_grad).sum().backward()
    assert ws_grad.grad is not None and not any(cl for _, cl in seen)


def test_auto_takes_channels_last_only_on_an_avx512_cpu(monkeypatch):
    G = tiny_generator(resolution=32).requires_grad_(False)
    ws = G.mapping(torch.randn(1, 8))
    monkeypatch.setenv(memory_format.ENV, "auto")
    monkeypatch.setattr(memory_format, "avx512_cpu", lambda: True)
    assert memory_format.channels_last_synthesis(ws, G.synthesis)
    monkeypatch.setattr(memory_format, "avx512_cpu", lambda: False)
    assert not memory_format.channels_last_synthesis(ws, G.synthesis)
    monkeypatch.setenv(memory_format.ENV, "0")
    monkeypatch.setattr(memory_format, "avx512_cpu", lambda: True)
    assert not memory_format.channels_last_synthesis(ws, G.synthesis)


def test_a_bad_setting_says_what_it_takes(monkeypatch):
    monkeypatch.setenv(memory_format.ENV, "yes")
    with pytest.raises(ValueError, match=r"LATENTEDIT_CHANNELS_LAST must be one of auto, 1, 0; got 'yes'"):
        memory_format.setting()


def test_batch1_view_gets_canonical_channels_last_strides_without_a_copy():
    x = torch.randn(1, 6, 5, 7).contiguous(memory_format=CL)
    odd = x.as_strided(x.shape, (6, 1, 7 * 6, 6))  # the batch stride a (1, C*..) reshape leaves behind
    assert odd.is_contiguous(memory_format=CL) and odd.stride(0) != odd.numel()
    y = channels_last_batch1(odd)
    assert y.stride() == (6 * 5 * 7, 1, 7 * 6, 6) and y.data_ptr() == x.data_ptr() and torch.equal(y, x)
    nchw = torch.randn(1, 6, 5, 7)
    assert channels_last_batch1(nchw) is nchw


def test_channels_last_weights_are_cached_per_layout():
    from latentedit.stylegan2.layers import layout_weight, transposed_weight

    w = torch.randn(6, 4, 3, 3)
    x_cl, x = torch.randn(1, 4, 5, 5).contiguous(memory_format=CL), torch.randn(1, 4, 5, 5)
    t_cl = transposed_weight(w, x_cl)
    assert t_cl.shape == (4, 6, 3, 3) and t_cl.is_contiguous(memory_format=CL) and not t_cl.is_contiguous()
    assert torch.equal(t_cl, w.transpose(0, 1)) and transposed_weight(w, x_cl) is t_cl  # cached
    assert transposed_weight(w, x).is_contiguous() and transposed_weight(w) is transposed_weight(w, x)
    l_cl = layout_weight(w, x_cl)
    assert l_cl.is_contiguous(memory_format=CL) and torch.equal(l_cl, w) and layout_weight(w, x_cl) is l_cl
    assert layout_weight(w, x) is w
    w.mul_(2)  # an in-place change (version counter) refreshes the cache
    assert torch.equal(layout_weight(w, x_cl), w)


def test_a_batch1_input_with_any_batch_stride_stays_channels_last_through_every_conv_path():
    from latentedit.stylegan2.layers import modulated_conv2d
    from latentedit.stylegan2.onednn_fusion import modulated_conv2d_lrelu

    x = torch.randn(1, 16, 9, 9).contiguous(memory_format=CL)
    odd = x.as_strided(x.shape, (16, 1, 9 * 16, 16))  # as a oneDNN output of batch 1 can come
    w, s = torch.randn(8, 16, 3, 3), torch.randn(1, 16)
    with torch.no_grad():
        outs = [modulated_conv2d(odd, w, s, up=up, fused=fused, filter_output=False)
                for up in (1, 2) for fused in (True, False)]
        fused_lrelu = modulated_conv2d_lrelu(odd, w, s, torch.zeros(8))
        ref = modulated_conv2d(x.contiguous(), w, s)
    for y in outs + ([fused_lrelu] if fused_lrelu is not None else []):
        assert y.is_contiguous(memory_format=CL) and not y.is_contiguous(), y.stride()
    torch.testing.assert_close(outs[0], ref, rtol=1e-5, atol=1e-5)
