"""The fused up-sampling epilogue (upfirdn2d + noise + bias + leaky ReLU in one native pass) against the separate
reference ops it replaces."""

from __future__ import annotations

import shutil

import pytest
import torch

from latentedit import ops
from latentedit.ops import _native
from latentedit.ops.bias_act_ref import fused_bias_act_ref
from latentedit.ops.upfirdn2d_ref import setup_filter, upfirdn2d_ref
from latentedit.stylegan2 import Generator, GeneratorConfig

TOL = {torch.float64: dict(rtol=1e-10, atol=1e-10), torch.float32: dict(rtol=1e-5, atol=1e-5),
       torch.bfloat16: dict(rtol=2e-2, atol=3e-2)}


@pytest.fixture(scope="module")
def mod():
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler")
    return _native.get_module("cpu", strict=True)


def _reference(x, f, up, down, padding, gain, bias, noise, strength, act, clamp):
    y = upfirdn2d_ref(x.double(), f.double(), up=up, down=down, padding=padding, gain=gain)
    if noise is not None:
        y = y + noise.double() * strength
    return fused_bias_act_ref(y, None if bias is None else bias.double(), act=act, clamp=clamp)


def _noise(kind, n, oh, ow, dtype):
    g = torch.Generator().manual_seed(3)
    return {"none": None, "plane": torch.randn(oh, ow, generator=g),
            "per_sample": torch.randn(n, 1, oh, ow, generator=g),
            "shared": torch.randn(1, 1, oh, ow, generator=g)}[kind]


CASES = [  # (up, down, padding, gain): the synthesis layer's filter after a transposed conv, upsample2d, a downsample
    (1, 1, 1, 4.0), (2, 1, (2, 1, 2, 1), 4.0), (1, 2, 1, 1.0)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("noise_kind", ["none", "plane", "per_sample", "shared"])
@pytest.mark.parametrize("case", CASES)
def test_fused_epilogue_matches_the_separate_reference_ops(mod, monkeypatch, dtype, layout, noise_kind, case):
    up, down, padding, gain = case
    torch.manual_seed(0)
    x = torch.randn(2, 5, 9, 11).to(dtype)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    f = setup_filter([1, 3, 3, 1], separable=False)
    bias = torch.randn(5).to(dtype)
    oh, ow = upfirdn2d_ref(x.float(), f, up=up, down=down, padding=padding).shape[-2:]
    noise = _noise(noise_kind, 2, oh, ow, dtype)
    calls = []
    monkeypatch.setattr(mod, "upfirdn2d_bias_act", _counting(mod.upfirdn2d_bias_act, calls), raising=False)
    for act, clamp in (("lrelu", None), ("lrelu", 0.6), ("linear", None)):
        with torch.no_grad():
            y = ops.upfirdn2d_bias_act(x, f, up=up, down=down, padding=padding, gain=gain, bias=bias, noise=noise,
                                       strength=torch.tensor(0.7), act=act, clamp=clamp)
        ref = _reference(x, f, up, down, padding, gain, bias, noise, float(torch.tensor(0.7)), act, clamp)
        assert y.dtype == dtype and y.shape == ref.shape
        assert y.is_contiguous(memory_format=torch.channels_last) == (layout == "channels_last")
        torch.testing.assert_close(y.double(), ref, **TOL[dtype])
    assert len(calls) == 3  # the native kernel ran each time


def _counting(fn, calls):
    def wrapped(*args):
        calls.append(1)
        return fn(*args)
    return wrapped


def test_without_bias_and_gradients_take_the_separate_ops(mod):
    torch.manual_seed(1)
    x = torch.randn(1, 3, 6, 6, dtype=torch.float64)
    f = setup_filter([1, 3, 3, 1], separable=False).double()
    with torch.no_grad():
        y = ops.upfirdn2d_bias_act(x, f, padding=1, gain=4.0)
    torch.testing.assert_close(y, _reference(x, f, 1, 1, 1, 4.0, None, None, 0, "lrelu", None), **TOL[torch.float64])
    xg = x.clone().requires_grad_()
    strength = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    noise = torch.randn(5, 5, dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda a, s: ops.upfirdn2d_bias_act(a, f, padding=1, gain=4.0, noise=noise, strength=s), (xg, strength))


def test_bad_noise_and_activation_are_refused(mod):
    x, f = torch.randn(1, 2, 4, 4), setup_filter([1, 3, 3, 1], separable=False)
    with torch.no_grad(), pytest.raises(RuntimeError, match=r"noise must be \(1 or 1, 3, 3\); got \[1, 4, 4\]"):
        ops.upfirdn2d_bias_act(x, f, padding=1, noise=torch.randn(4, 4))
    with pytest.raises(ValueError, match="supports act 'linear' or 'lrelu'; got 'tanh'"):
        ops.upfirdn2d_bias_act(x, f, act="tanh")


@pytest.mark.parametrize("noise_mode", ["const", "random"])
def test_synthesis_with_noise_matches_the_reference_ops(mod, monkeypatch, noise_mode):
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(resolution=32, channels=(16, 16, 12, 8), z_dim=8, w_dim=8, mapping_layers=2)).eval()
    for layer in G.synthesis.noise_layers():
        layer.noise_strength.data.fill_(0.2)
    ws = G.mapping(torch.randn(2, 8)).detach()
    calls = []
    monkeypatch.setattr(mod, "upfirdn2d_bias_act", _counting(mod.upfirdn2d_bias_act, calls), raising=False)
    with torch.no_grad():
        torch.manual_seed(9)
        fused = G.synthesis(ws, noise_mode=noise_mode)
        monkeypatch.setenv("LATENTEDIT_OPS", "ref")
        torch.manual_seed(9)
        ref = G.synthesis(ws, noise_mode=noise_mode)
    assert len(calls) == 3  # the up-sampling layers at 8, 16 and 32 px
    torch.testing.assert_close(fused, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_nan_and_signed_values_pass_through_like_the_reference(mod, layout):
    x = torch.randn(1, 3, 6, 6)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    f = setup_filter([1, 3, 3, 1], separable=False)
    noise = torch.randn(5, 5)
    noise[2, 3] = float("nan")
    noise[0, 0] = float("inf")
    bias = torch.randn(3)
    with torch.no_grad():
        y = ops.upfirdn2d_bias_act(x, f, padding=1, gain=4.0, bias=bias, noise=noise, strength=0.5)
    ref = _reference(x, f, 1, 1, 1, 4.0, bias, noise, 0.5, "lrelu", None)
    assert (y.isnan().sum(), y.isposinf().sum()) == (3, 3)  # one noise pixel, every channel
    torch.testing.assert_close(y.double(), ref, equal_nan=True, **TOL[torch.float32])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("noise_kind", ["plane", "per_sample", "shared"])
def test_noise_bias_act_is_one_native_pass_on_channels_last_only(mod, monkeypatch, dtype, noise_kind):
    torch.manual_seed(0)
    x = torch.randn(2, 5, 9, 11).to(dtype)
    bias, noise = torch.randn(5).to(dtype), _noise(noise_kind, 2, 9, 11, dtype)
    calls = []
    monkeypatch.setattr(mod, "upfirdn2d_bias_act", _counting(mod.upfirdn2d_bias_act, calls), raising=False)
    one_tap = torch.ones(1)
    st = torch.tensor(0.7)  # as the synthesis passes it (a float32 parameter)
    ref = _reference(x, one_tap, 1, 1, 0, 1.0, bias, noise, float(st), "lrelu", 0.6)  # float64; the filter is 1
    with torch.no_grad():
        cl = ops.noise_bias_act(x.contiguous(memory_format=torch.channels_last), noise, st, bias, clamp=0.6)
        assert len(calls) == 1 and cl.is_contiguous(memory_format=torch.channels_last)
        nchw = ops.noise_bias_act(x, noise, st, bias, clamp=0.6)
        assert len(calls) == 1 and nchw.is_contiguous()  # NCHW: the separate ops (the native pass gained nothing)
        assert ops.noise_bias_act(x.contiguous(memory_format=torch.channels_last), None, st, bias).shape == x.shape
        assert len(calls) == 1  # no noise: fused_bias_act alone
    for y in (cl, nchw):
        assert y.dtype == dtype
        torch.testing.assert_close(y.double(), ref, **TOL[dtype])
    with pytest.raises(ValueError, match="supports act 'linear' or 'lrelu'; got 'tanh'"):
        ops.noise_bias_act(x, noise, act="tanh")


def test_bfloat16_channels_last_epilogue_rounds_like_torch_in_its_vector_blocks(mod):
    # 37 channels: two blocks of 16 (the AVX-512 path where built) and a scalar remainder of 5
    torch.manual_seed(1)
    x = torch.randn(2, 37, 6, 7).bfloat16().contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        y = ops.upfirdn2d_bias_act(x, torch.ones(1, 1), gain=3.0, act="linear")  # one 2-D tap: y = bf16(3 x)
    assert torch.equal(y.view(torch.int16), (x.float() * 3).bfloat16().view(torch.int16))
    x[0, 3, 2, 2], x[1, 20, 4, 5], x[1, 35, 0, 0] = float("nan"), float("inf"), -float("inf")
    bias = torch.randn(37).bfloat16()
    noise = torch.randn(1, 1, 6, 7)
    with torch.no_grad():
        y = ops.upfirdn2d_bias_act(x, torch.ones(1), bias=bias, noise=noise, strength=0.5, clamp=0.75)
    ref = _reference(x, torch.ones(1), 1, 1, 0, 1.0, bias, noise, 0.5, "lrelu", 0.75)
    assert y.isnan().sum() == 1 and y.isnan()[0, 3, 2, 2] and y.abs().nan_to_num(0).max() <= 0.75
    torch.testing.assert_close(y.double(), ref, equal_nan=True, **TOL[torch.bfloat16])
