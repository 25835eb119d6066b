"""The native per-sample 1x1 convolution (+ bias + clamp), ToRGB's kernel, against its float64 reference."""

from __future__ import annotations

import shutil

import pytest
import torch

from latentedit import ops
from latentedit.ops import _native
from latentedit.stylegan2 import Generator, GeneratorConfig

TOL = {torch.float64: dict(rtol=1e-12, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=2e-5)}


@pytest.fixture(scope="module")
def mod():
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler")
    return _native.get_module("cpu", strict=True)


@pytest.fixture
def calls(mod, monkeypatch):
    seen = []
    native = mod.pointwise_conv

    def counting(*args):
        seen.append(args[1].shape)
        return native(*args)
    monkeypatch.setattr(mod, "pointwise_conv", counting, raising=False)
    return seen


def _reference(x, w, bias, clamp):
    y = torch.einsum("noc,nchw->nohw", w.double(), x.double())
    if bias is not None:
        y = y + bias.double().reshape(1, -1, 1, 1)
    return y.clamp(-clamp, clamp) if clamp is not None else y


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("outs", [1, 3, 8])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("clamp", [None, 0.5])
def test_native_kernel_matches_the_float64_reference(calls, dtype, outs, with_bias, clamp):
    g = torch.Generator().manual_seed(outs)
    # 37 x 41 pixels: not a multiple of the kernel's 1024-pixel block, two samples with their own weights
    x = torch.randn(2, 5, 37, 41, generator=g, dtype=dtype)
    w = torch.randn(2, outs, 5, generator=g, dtype=dtype)
    bias = torch.randn(outs, generator=g, dtype=dtype) if with_bias else None
    with torch.no_grad():
        y = ops.pointwise_conv(x, w, bias, clamp=clamp)
    assert len(calls) == 1 and y.dtype == dtype and y.shape == (2, outs, 37, 41)
    ref = _reference(x, w, bias, clamp)
    torch.testing.assert_close(y.double(), ref, **TOL[dtype])
    if clamp is not None:
        assert y.abs().max() <= clamp and (y.abs() == clamp).any()  # the clamp bit


def test_what_the_kernel_declines_runs_the_reference_path(calls):
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(1, 4, 6, 6, generator=g), torch.randn(1, 9, 4, generator=g)  # 9 > POINTWISE_MAX_OUT outputs
    with torch.no_grad():
        torch.testing.assert_close(ops.pointwise_conv(x, w).double(), _reference(x, w, None, None),
                                   **TOL[torch.float32])
        view = torch.randn(1, 4, 6, 12, generator=g)[..., ::2]  # neither NCHW nor NHWC dense
        torch.testing.assert_close(ops.pointwise_conv(view, w[:, :3]).double(),
                                   _reference(view, w[:, :3], None, None), **TOL[torch.float32])
    assert calls == []
    # with a gradient to compute, the reference (matmul + fused_bias_act) runs and is differentiable
    xd = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    wd = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
    bd = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c: ops.pointwise_conv(a, b, c, clamp=10.0), (xd, wd, bd))
    # channels-last x: the reference reads it in place, (N, HW, C) @ (N, C, O), and returns NCHW
    xcl = xd.detach().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    assert ops.pointwise_conv(xcl, wd, bd).is_contiguous()
    assert torch.autograd.gradcheck(lambda a, b, c: ops.pointwise_conv(a, b, c, clamp=10.0), (xcl, wd, bd))
    assert calls == []


def test_ref_mode_never_calls_the_kernel(calls, monkeypatch):
    monkeypatch.setenv("LATENTEDIT_OPS", "ref")
    x, w = torch.randn(1, 4, 6, 6), torch.randn(1, 3, 4)
    with torch.no_grad():
        torch.testing.assert_close(ops.pointwise_conv(x, w).double(), _reference(x, w, None, None),
                                   **TOL[torch.float32])
    assert calls == []


def test_nan_passes_through_the_clamp_like_the_reference(calls):
    x, w = torch.randn(1, 2, 4, 4), torch.randn(1, 3, 2)
    x[0, 1, 2, 3] = float("nan")
    with torch.no_grad():
        y = ops.pointwise_conv(x, w, torch.zeros(3), clamp=1.0)
        ref = ops.fused_bias_act(torch.matmul(w, x.reshape(1, 2, 16)).reshape(1, 3, 4, 4), torch.zeros(3), clamp=1.0)
    assert len(calls) == 1 and int(y.isnan().sum()) == 3  # that pixel, every output channel
    torch.testing.assert_close(y, ref, equal_nan=True)


def test_bad_shapes_are_refused_with_what_was_expected():
    with pytest.raises(ValueError, match=r"x \(N, C, H, W\) and weight \(N, O, C\) expected; got x \(1, 4, 6, 6\), "
                                         r"weight \(1, 3, 5\)"):
        ops.pointwise_conv(torch.randn(1, 4, 6, 6), torch.randn(1, 3, 5))


def test_torgb_in_the_synthesis_uses_the_kernel_and_matches_the_reference(calls, monkeypatch):
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(resolution=32, channels=(16, 16, 12, 8), z_dim=8, w_dim=8, mapping_layers=2,
                                  conv_clamp=0.3)).eval()
    ws = G.mapping(torch.randn(2, 8)).detach()
    with torch.no_grad():
        native = G.synthesis(ws, noise_mode="const")
        monkeypatch.setenv("LATENTEDIT_OPS", "ref")
        ref = G.synthesis(ws, noise_mode="const")
    assert len(calls) == 4  # one ToRGB per resolution: 4, 8, 16, 32
    torch.testing.assert_close(native, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("channels", [131, 19])  # 16 and 8 partial sums, neither a multiple of them
def test_channels_last_input_matches_the_reference_and_returns_nchw(calls, dtype, channels):
    g = torch.Generator().manual_seed(channels)
    # 2 samples with their own weights, 9 x 13 pixels
    x = torch.randn(2, channels, 9, 13, generator=g, dtype=dtype).contiguous(memory_format=torch.channels_last)
    w, bias = torch.randn(2, 3, channels, generator=g, dtype=dtype), torch.randn(3, generator=g, dtype=dtype)
    with torch.no_grad():
        y = ops.pointwise_conv(x, w, bias, clamp=2.0)
    assert len(calls) == 1
    assert y.is_contiguous() and y.shape == (2, 3, 9, 13) and y.dtype == dtype
    torch.testing.assert_close(y.double(), _reference(x, w, bias, 2.0), **TOL[dtype])
    assert (y.abs() == 2.0).any()  # the clamp bit


@pytest.mark.parametrize("channels", [131, 19])
def test_bfloat16_input_with_float32_weights_is_computed_in_float32(calls, channels):
    # ToRGB's fp32 island under bf16 autocast: the kernel widens channels-last bf16 x itself (exact), no fp32 copy
    g = torch.Generator().manual_seed(channels)
    x = torch.randn(2, channels, 9, 13, generator=g).bfloat16()
    w, bias = torch.randn(2, 3, channels, generator=g), torch.randn(3, generator=g)
    with torch.no_grad():
        y = ops.pointwise_conv(x.contiguous(memory_format=torch.channels_last), w, bias, clamp=2.0)
        assert len(calls) == 1
        nchw = ops.pointwise_conv(x, w, bias, clamp=2.0)  # NCHW bf16: widened by a copy, then the float32 kernel
        assert len(calls) == 2
    ref = ops.pointwise_conv(x.float(), w, bias, clamp=2.0)
    for out in (y, nchw):
        assert out.dtype == torch.float32 and out.is_contiguous()
        torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(y.double(), _reference(x.float(), w, bias, 2.0), **TOL[torch.float32])
