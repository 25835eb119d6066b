"""The sub-pixel (polyphase) up-convolution measured by ``benchmarks/peak.py`` is the generator's up-conv exactly."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from latentedit.stylegan2.layers import modulated_conv2d


@pytest.fixture(scope="module")
def peak():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "peak.py"
    spec = importlib.util.spec_from_file_location("bench_peak", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("shape", [(1, 3, 4, 5, 2), (2, 4, 3, 3, 5)])  # (B, I, H, W, O)
def test_polyphase_equals_transposed_conv_and_fir(peak, shape):
    b, i, h, w_, o = shape
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b, i, h, w_, generator=g, dtype=torch.float64)
    w = torch.randn(o, i, 3, 3, generator=g, dtype=torch.float64)
    y = peak.up_conv_polyphase(x, w)
    assert y.shape == (b, o, 2 * h, 2 * w_)
    torch.testing.assert_close(y, peak.up_conv_reference(x, w), rtol=1e-12, atol=1e-12)


def test_polyphase_on_modulated_weights_matches_fused_path(peak):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 5, 5, generator=g)
    w = torch.randn(4, 3, 3, 3, generator=g)
    s = torch.rand(2, 3, generator=g) + 0.5
    ref = modulated_conv2d(x, w, s, up=2, fused=True)
    wb = w.unsqueeze(0) * s.reshape(2, 1, 3, 1, 1)
    wb = wb * (wb.square().sum(dim=(2, 3, 4)) + 1e-8).rsqrt().reshape(2, 4, 1, 1, 1)
    pw = peak.polyphase_up_weight(wb)                                      # (B, 4O, I, 3, 3)
    y = torch.nn.functional.conv2d(x.reshape(1, 6, 5, 5), pw.reshape(2 * 16, 3, 3, 3), padding=1, groups=2)
    torch.testing.assert_close(torch.nn.functional.pixel_shuffle(y.reshape(2, 16, 5, 5), 2), ref,
                               rtol=1e-5, atol=1e-5)


def test_polyphase_gradients_first_and_second_order(peak):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, 2, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(peak.up_conv_polyphase, (x, w))
    assert torch.autograd.gradgradcheck(peak.up_conv_polyphase, (x, w))
    # and the gradients equal the reference path's
    gy = torch.randn(1, 2, 6, 6, generator=g, dtype=torch.float64)
    a = torch.autograd.grad(peak.up_conv_polyphase(x, w), (x, w), gy)
    r = torch.autograd.grad(peak.up_conv_reference(x, w), (x, w), gy)
    for u, v in zip(a, r):
        torch.testing.assert_close(u, v, rtol=1e-10, atol=1e-10)


def test_polyphase_rejects_other_kernel_sizes(peak):
    with pytest.raises(ValueError, match="3x3"):
        peak.polyphase_up_weight(torch.zeros(2, 2, 1, 1))


def test_shares_are_ratios_against_the_interleaved_peak(peak):
    times = {"peak": [1.0, 2.0, 1.0], "a": [2.0, 2.0, 4.0]}
    s = peak.shares(times, {"a": peak.PEAK_FLOPS})
    assert s["a"] == (0.5, 0.25, 1.0)


def test_unfused_turns_every_shortcut_off_and_restores_them(peak, monkeypatch):
    from latentedit import ops
    from latentedit.stylegan2 import Generator, GeneratorConfig, layers, onednn_fusion

    torch.manual_seed(0)
    G = Generator(GeneratorConfig(resolution=32, channels=(16, 16, 12, 8), z_dim=8, w_dim=8, mapping_layers=2)).eval()
    ws = G.mapping(torch.randn(1, 8)).detach()
    saved = onednn_fusion._OP, ops._epilogue_module, ops._pointwise_module, layers.derived_weight
    native = ops._native.get_module("cpu")
    if native is not None:
        monkeypatch.setattr(native, "upfirdn2d_bias_act", lambda *a: pytest.fail("fused epilogue ran unfused"))
        monkeypatch.setattr(native, "pointwise_conv", lambda *a: pytest.fail("ToRGB kernel ran unfused"))
    layers.clear_derived_weights()
    with torch.no_grad(), peak.unfused():
        assert onednn_fusion._OP is None and ops._epilogue_module is not saved[1]
        img = G.synthesis(ws)
    assert len(layers._DERIVED) == 0  # nothing was cached
    assert (onednn_fusion._OP, ops._epilogue_module, ops._pointwise_module, layers.derived_weight) == saved
    monkeypatch.undo()
    with torch.no_grad():
        torch.testing.assert_close(G.synthesis(ws), img, rtol=1e-5, atol=1e-5)
    assert len(layers._DERIVED) > 0


def test_synthesis_layout_sets_and_restores_the_setting(peak, monkeypatch):
    import os

    from latentedit.stylegan2 import memory_format

    monkeypatch.delenv(memory_format.ENV, raising=False)
    with peak.synthesis_layout("1"):
        assert memory_format.setting() == "1"
    assert memory_format.ENV not in os.environ
    monkeypatch.setenv(memory_format.ENV, "0")
    with peak.synthesis_layout("1"):
        assert memory_format.setting() == "1"
    assert os.environ[memory_format.ENV] == "0"


def test_profile_timers_cover_the_convolutions_and_shares_add_up(capsys):
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "profile_synthesis.py"
    spec = importlib.util.spec_from_file_location("bench_profile", path)
    prof = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prof)
    prof.timers_table(32, 1, passes=3, rows=50)
    out = capsys.readouterr().out
    assert "median pass" in out and "over 2 passes" in out
    rows = [line.split("|") for line in out.splitlines() if line.startswith(("| conv", "| deconv", "| up2"))]
    assert {r[1].strip() for r in rows} >= {"deconv"} and any(r[1].strip().startswith("conv") for r in rows)
    assert all(float(r[5]) > 0 for r in rows)  # GFLOP/s for every convolution
    parts = [float(line.split(": ")[1].split("%")[0]) for line in out.splitlines() if line.endswith("of the pass")]
    assert len(parts) == 5 and 0 < sum(parts) <= 100  # conv, conv_fused, deconv, up2, fir_epilogue
