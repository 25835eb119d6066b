"""The native 3x3 stride-2 up-convolution on channels-last activations (AVX-512 builds) against float64
``conv_transpose2d``, the packing of its weights, when it runs and when the reference runs instead."""

from __future__ import annotations

import shutil

import pytest
import torch
import torch.nn.functional as F

from latentedit import ops
from latentedit.ops import _native
from latentedit.ops.transposed_conv import unpack_up2_weight
from latentedit.stylegan2.layers import modulated_conv2d

TOL = dict(rtol=1e-5, atol=3e-5)


@pytest.fixture(scope="module")
def mod():
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler")
    m = _native.get_module("cpu", strict=True)
    if not m.transposed_conv_up2_native:
        pytest.skip("the native ops were built without AVX-512: the up-convolution kernel is not compiled in")
    return m


@pytest.fixture
def calls(mod, monkeypatch):
    seen = []
    native = mod.transposed_conv_up2

    def counting(x, w, s):
        seen.append((tuple(x.shape), tuple(w.shape), s.numel()))
        return native(x, w, s)
    monkeypatch.setattr(mod, "transposed_conv_up2", counting, raising=False)
    return seen


def _nhwc(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).to(memory_format=torch.channels_last)


def _reference(x, weight_oikk, out_scale=None, sample_scale=None):
    """float64 conv_transpose2d per sample; sample_scale (N, I, O) multiplies the (I, O) weight per sample."""
    wt = weight_oikk.double().transpose(0, 1)
    ys = []
    for n in range(x.shape[0]):
        w = wt * sample_scale[n].double()[:, :, None, None] if sample_scale is not None else wt
        ys.append(F.conv_transpose2d(x[n:n + 1].double(), w, stride=2))
    y = torch.cat(ys)
    return y * out_scale.double()[:, :, None, None] if out_scale is not None else y


def test_packing_round_trips_and_blocks_by_64_or_32():
    w = torch.randn(96, 5, 3, 3)
    p = ops.up2_weight(w)
    assert p.shape == (1, 3, 3, 3, 5, 32) and p.is_contiguous()  # 96 = 3 blocks of 32
    assert torch.equal(unpack_up2_weight(p)[0], w.transpose(0, 1))
    assert ops.up2_weight(torch.randn(128, 5, 3, 3)).shape == (1, 2, 3, 3, 5, 64)
    s = torch.rand(2, 5, 96)
    ps = ops.up2_sample_weight(p, s)
    assert ps.shape == (2, 3, 3, 3, 5, 32)
    torch.testing.assert_close(unpack_up2_weight(ps), w.transpose(0, 1)[None] * s[:, :, :, None, None])
    s1 = torch.rand(2, 5, 1)  # one scale per input channel (no demodulation): broadcast over the outputs
    torch.testing.assert_close(unpack_up2_weight(ops.up2_sample_weight(p, s1)),
                               w.transpose(0, 1)[None] * s1[:, :, :, None, None])


@pytest.mark.parametrize("n,i,o,h,w", [
    (1, 64, 32, 9, 12),    # B = 32, compile-time I = 64 not used for B = 32 (run-time I)
    (2, 128, 64, 7, 1),    # one input column: only border columns and the odd column
    (3, 96, 96, 5, 17),    # run-time I, three blocks of 32, 17 columns: full tiles plus a remainder
    (1, 512, 128, 3, 8),   # compile-time I = 512, two blocks of 64
    (2, 32, 64, 1, 6),     # one input row
])
def test_native_kernel_matches_the_float64_reference(calls, n, i, o, h, w):
    x = _nhwc(n, i, h, w, seed=i + o)
    weight = torch.randn(o, i, 3, 3, generator=torch.Generator().manual_seed(o)) / (9 * i) ** 0.5
    out_scale = torch.rand(n, o, generator=torch.Generator().manual_seed(1)) + 0.5
    sample_scale = torch.rand(n, i, o, generator=torch.Generator().manual_seed(2)) + 0.5
    packed = ops.up2_weight(weight)
    with torch.no_grad():
        shared = ops.transposed_conv_up2(x, packed, out_scale)
        per_sample = ops.transposed_conv_up2(x, ops.up2_sample_weight(packed, sample_scale))
    assert len(calls) == 2 and calls[0][2] == n * o and calls[1][2] == 0
    for y in (shared, per_sample):
        assert y.shape == (n, o, 2 * h + 1, 2 * w + 1) and y.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(shared.double(), _reference(x, weight, out_scale), **TOL)
    torch.testing.assert_close(per_sample.double(), _reference(x, weight, sample_scale=sample_scale), **TOL)


def test_outputs_written_past_the_cache_are_exact(calls):
    # 257 x 257 x 64 floats = 16.9 MB: above the kernel's 16 MB threshold for non-temporal stores
    x = _nhwc(1, 64, 128, 128, seed=3)
    weight = torch.randn(64, 64, 3, 3, generator=torch.Generator().manual_seed(4)) / 24
    with torch.no_grad():
        y = ops.transposed_conv_up2(x, ops.up2_weight(weight))
    assert len(calls) == 1 and y.numel() * 4 > 16 << 20
    torch.testing.assert_close(y.double(), _reference(x, weight), **TOL)


def test_what_the_kernel_declines_runs_the_reference(calls, monkeypatch):
    weight = torch.randn(64, 32, 3, 3)
    packed = ops.up2_weight(weight)
    x = _nhwc(1, 32, 4, 5, seed=5)
    declined = {
        "nchw": x.contiguous(),
        "float64": x.double(),
        "grad": x.clone().requires_grad_(True),
    }
    for name, xi in declined.items():
        assert not ops.up2_native(xi, 64, packed), name
        y = ops.transposed_conv_up2(xi, packed.to(xi.dtype))
        torch.testing.assert_close(y.double(), _reference(xi.detach(), weight), **TOL)
    assert not ops.up2_native(x, 48)  # output channels not a multiple of 32
    assert not ops.up2_native(x, 64, packed.double())  # a float64 weight: the reference, not a dtype error
    torch.testing.assert_close(ops.transposed_conv_up2(x, packed.double()).double(), _reference(x, weight), **TOL)
    assert calls == []
    y = ops.transposed_conv_up2(declined["grad"], packed)
    y.sum().backward()  # the reference is the gradient path
    assert declined["grad"].grad is not None and declined["grad"].grad.shape == x.shape
    x64 = x.detach().double().requires_grad_(True)
    _reference(x64, weight).sum().backward()
    torch.testing.assert_close(declined["grad"].grad.double(), x64.grad, **TOL)
    monkeypatch.setenv("LATENTEDIT_OPS", "ref")
    assert not ops.up2_native(x, 64)
    with torch.no_grad():
        ops.transposed_conv_up2(x, packed)
    assert calls == []


def test_bad_shapes_are_refused_with_what_was_expected():
    x = _nhwc(2, 32, 4, 4, seed=6)
    packed = ops.up2_weight(torch.randn(64, 32, 3, 3))
    with pytest.raises(ValueError, match=r"packed weight \(1 or N, O/B, 3, 3, I, B\) expected"):
        ops.transposed_conv_up2(x[:, :16], packed)
    with pytest.raises(ValueError, match=r"out_scale \(2, 64\) expected; got \(2, 32\)"):
        ops.transposed_conv_up2(x, packed, torch.ones(2, 32))
    with pytest.raises(ValueError, match=r"O a multiple of 32 expected; got \(48, 32, 3, 3\)"):
        ops.up2_weight(torch.randn(48, 32, 3, 3))
    with pytest.raises(ValueError, match=r"scale \(N, 32, 64 or 1\) expected"):
        ops.up2_sample_weight(packed, torch.ones(2, 64, 32))


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("batch", [1, 2])
def test_modulated_up_convolution_takes_the_kernel_on_channels_last(calls, fused, demodulate, batch):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(batch, 64, 6, 7, generator=g)
    weight = torch.randn(32, 64, 3, 3, generator=g)
    styles = torch.rand(batch, 64, generator=g) + 0.5
    with torch.no_grad():
        ref = modulated_conv2d(x, weight, styles, demodulate=demodulate, up=2, fused=fused, filter_output=False)
        y = modulated_conv2d(x.contiguous(memory_format=torch.channels_last), weight, styles, demodulate=demodulate,
                             up=2, fused=fused, filter_output=False)
    assert len(calls) == 1
    # fused: per-sample packed weights with the demodulation folded in; else styles on x, demodulation at the store
    assert calls[0][1][0] == (batch if fused else 1) and calls[0][2] == (0 if fused or not demodulate else batch * 32)
    assert y.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("batch", [1, 2])
def test_channels_last_synthesis_runs_its_up_convolutions_natively_and_matches_nchw(calls, monkeypatch, batch):
    from latentedit.stylegan2 import memory_format
    from tests.conftest import tiny_generator

    G = tiny_generator(resolution=64, channels=[64, 64, 64, 32, 32])  # multiples of 32: the kernel's blocks
    ws = G.mapping(torch.randn(batch, 8, generator=torch.Generator().manual_seed(8))).detach()
    with torch.no_grad():
        monkeypatch.setenv(memory_format.ENV, "0")
        ref = G.synthesis(ws, noise_mode="const")
        assert calls == []
        monkeypatch.setenv(memory_format.ENV, "1")
        img = G.synthesis(ws, noise_mode="const")
    # the up-convolutions of the 16, 32 and 64 px blocks (inputs 8, 16, 32 px); the 8 px block's input is NCHW
    assert [c[0][2] for c in calls] == [8, 16, 32]
    torch.testing.assert_close(img, ref, rtol=1e-5, atol=1e-5)
