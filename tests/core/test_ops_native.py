"""Native CPU kernels against the reference twins: values, gradients, second gradients, gradcheck/gradgradcheck.

The CPU extension is built once per machine (cached under $LATENTEDIT_CACHE/ops or ~/.cache/latentedit/ops);
the first test session on a fresh machine pays about a minute for it.
"""

from __future__ import annotations

import itertools
import shutil

import pytest
import torch

from latentedit import ops
from latentedit.ops import _native
from latentedit.ops.bias_act_ref import fused_bias_act_ref
from latentedit.ops.upfirdn2d_ref import setup_filter, upfirdn2d_ref

ACTS = list(_native.ACT_CODES)


@pytest.fixture(scope="module")
def mod():
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler")
    return _native.get_module("cpu", strict=True)


def _tol(dtype):
    return {torch.float64: dict(rtol=1e-10, atol=1e-10), torch.float32: dict(rtol=1e-5, atol=1e-5),
            torch.bfloat16: dict(rtol=2e-2, atol=2e-2)}[dtype]


def _layout(x: torch.Tensor, how: str) -> torch.Tensor:
    if how == "contiguous":
        return x
    if how == "channels_last":
        return x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x
    if how == "noncontiguous":  # a strided view: every other column of a wider tensor
        wide = torch.zeros(*x.shape[:-1], 2 * x.shape[-1], dtype=x.dtype)
        wide[..., ::2] = x
        view = wide[..., ::2]
        assert not view.is_contiguous() or x.numel() <= 1
        return view
    raise ValueError(how)


# ------------------------------------------------------------------------------------------------------------------
# fused_bias_act
# ------------------------------------------------------------------------------------------------------------------

BA_SHAPES = [((3, 5, 7, 9), 1), ((1, 13, 1, 1), 1), ((2, 6), 1), ((4, 3, 5), 2), ((1, 1, 1, 1), 1), ((7,), 0),
             ((2, 17, 16, 16), 1)]


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bias_act_forward_and_grad_match_reference(mod, act, dtype):
    for (shape, dim), how, clamp in itertools.product(BA_SHAPES, ["contiguous", "noncontiguous", "channels_last"],
                                                      [None, 0.7]):
        x0 = (torch.randn(shape, dtype=dtype) * 2)
        x = _layout(x0, how).requires_grad_()
        b = torch.randn(shape[dim], dtype=dtype, requires_grad=True)
        kw = dict(dim=dim, act=act, alpha=0.25 if act == "lrelu" else None, gain=1.3, clamp=clamp)
        y = _native.bias_act(mod, x, b, dim, act, *_defaults(act, kw["alpha"], kw["gain"]), clamp)
        xr = x0.clone().requires_grad_()
        br = b.detach().clone().requires_grad_()
        r = fused_bias_act_ref(xr, br, **kw)
        torch.testing.assert_close(y, r, **_tol(dtype), msg=lambda m: f"{act} {shape} {how} {clamp}: {m}")
        g = torch.randn_like(r)
        gx, gb = torch.autograd.grad(y, [x, b], g)
        rx, rb = torch.autograd.grad(r, [xr, br], g)
        torch.testing.assert_close(gx, rx, **_tol(dtype))
        torch.testing.assert_close(gb, rb, rtol=1e-5 if dtype == torch.float32 else 1e-9,
                                   atol=1e-4 if dtype == torch.float32 else 1e-9)


def _defaults(act, alpha, gain):
    from latentedit.ops.bias_act_ref import resolve_activation

    _, a, g = resolve_activation(act, alpha, gain)
    return a, g


def test_bias_act_channels_last_keeps_layout(mod):
    x = torch.randn(2, 16, 5, 7).contiguous(memory_format=torch.channels_last)
    y = _native.bias_act(mod, x, torch.randn(16), 1, "lrelu", 0.2, 2 ** 0.5, None)
    assert y.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("act", ACTS)
def test_bias_act_second_order_matches_reference(mod, act):
    torch.manual_seed(1)
    x0 = torch.randn(2, 6, 5, 3, dtype=torch.float64) * 2
    b0 = torch.randn(6, dtype=torch.float64)
    g = torch.randn(2, 6, 5, 3, dtype=torch.float64)
    h = torch.randn(2, 6, 5, 3, dtype=torch.float64)
    outs = []
    for native in (True, False):
        x = x0.clone().requires_grad_()
        b = b0.clone().requires_grad_()
        gg = g.clone().requires_grad_()
        a, gain = _defaults(act, None, None)
        y = (_native.bias_act(mod, x, b, 1, act, a, gain, 1.1) if native
             else fused_bias_act_ref(x, b, 1, act, a, gain, 1.1))
        gx, gb = torch.autograd.grad(y, [x, b], gg, create_graph=True)
        loss = (gx * h).sum() + (gb * torch.arange(6, dtype=torch.float64)).sum()
        outs.append(torch.autograd.grad(loss, [x, b, gg], allow_unused=True))
    for n, r, like in zip(*outs, (x0, b0, g)):
        n = torch.zeros_like(like) if n is None else n
        r = torch.zeros_like(like) if r is None else r
        torch.testing.assert_close(n, r, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("clamp", [None, 0.9])
def test_bias_act_gradcheck_gradgradcheck(mod, act, clamp):
    torch.manual_seed(2)
    # keep away from the kinks (0 for relu/lrelu, the clamp edges) where finite differences are meaningless
    x = torch.randn(2, 3, 4, 3, dtype=torch.float64)
    x = (x + 0.1 * x.sign()).requires_grad_()
    b = (torch.randn(3, dtype=torch.float64) * 0.01).requires_grad_()
    a, gain = _defaults(act, None, None)

    def f(x, b):
        return _native.bias_act(mod, x, b, 1, act, a, gain, clamp)

    y = f(x, b).detach()
    if clamp is not None:  # move samples off the clamp edges
        near = ((y.abs() - clamp).abs() < 0.05)
        assume = x.detach().clone()
        assume[near] += 0.3
        x = assume.requires_grad_()
    assert torch.autograd.gradcheck(f, (x, b), eps=1e-6, atol=1e-5)
    assert torch.autograd.gradgradcheck(f, (x, b), eps=1e-6, atol=1e-5)


def test_bias_act_no_bias_and_2d(mod):
    x = torch.randn(5, 8)
    torch.testing.assert_close(_native.bias_act(mod, x, None, 1, "lrelu", 0.2, 2 ** 0.5, None),
                               fused_bias_act_ref(x, None, 1, "lrelu"))


def test_bias_act_bfloat16(mod):
    x = torch.randn(2, 8, 9, 9, dtype=torch.bfloat16)
    x[0, 0, 0, 0] = float("nan")
    b = torch.randn(8, dtype=torch.bfloat16)
    y = _native.bias_act(mod, x, b, 1, "lrelu", 0.2, 2 ** 0.5, 256.0)
    torch.testing.assert_close(y, fused_bias_act_ref(x, b, 1, "lrelu", clamp=256), equal_nan=True,
                               **_tol(torch.bfloat16))
    assert torch.isnan(y[0, 0, 0, 0])


# ------------------------------------------------------------------------------------------------------------------
# upfirdn2d
# ------------------------------------------------------------------------------------------------------------------

def _filters():
    torch.manual_seed(3)
    return {
        "fir4_1d": setup_filter([1, 3, 3, 1]),
        "fir4_2d": setup_filter([1, 3, 3, 1], separable=False),
        "rand3x5": torch.randn(3, 5),
        "rand2_1d": torch.randn(2),
        "one": torch.ones(1, 1),
        "fir6_1d": setup_filter([1, 5, 10, 10, 5, 1]),
    }


FILTERS = _filters()
UFD_CASES = [
    # up, down, padding
    (1, 1, 0), (1, 1, (1, 2, 2, 1)), (2, 1, (2, 1, 2, 1)), (1, 2, (1, 1, 1, 1)), (2, 2, 1), (3, 1, (2, 2, 1, 3)),
    (1, 3, 2), ((2, 1), (1, 2), (1, 0, 2, 1)), (1, 1, (-1, -2, 0, -1)), (2, 1, (-2, 3, 1, -1)), (1, 2, (0, -1, -2, 0)),
    (4, 1, 3), (1, 1, (4, 4, 4, 4)),
]


UFD_LAYOUTS = [((2, 3, 7, 9), "contiguous", False, 1.0), ((1, 1, 5, 4), "contiguous", True, 2.5),
               ((2, 16, 6, 5), "channels_last", False, 4.0), ((1, 3, 9, 7), "noncontiguous", True, 1.0)]


@pytest.mark.parametrize("fname", list(FILTERS))
@pytest.mark.parametrize("case", range(len(UFD_CASES)))
def test_upfirdn2d_matches_reference(mod, fname, case):
    _check_upfirdn2d(mod, fname, case, torch.float32, UFD_LAYOUTS)


@pytest.mark.parametrize("fname", ["fir4_2d", "rand3x5", "fir4_1d"])
@pytest.mark.parametrize("case", [2, 4, 9])
def test_upfirdn2d_matches_reference_float64(mod, fname, case):
    # (the float64 reference convolution is slow on CPU: a smaller matrix)
    _check_upfirdn2d(mod, fname, case, torch.float64, UFD_LAYOUTS[::2])


def _check_upfirdn2d(mod, fname, case, dtype, layouts):
    up, down, pad = UFD_CASES[case]
    f = FILTERS[fname]
    for shape, how, flip, gain in layouts:
        x0 = torch.randn(shape, dtype=dtype)
        x = _layout(x0, how).requires_grad_()
        try:
            r = upfirdn2d_ref(x0, f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain)
        except RuntimeError:  # crop larger than the signal: the reference cannot run it either
            continue
        y = _native.upfirdn2d(mod, x, f, ops.parse_scaling(up), ops.parse_scaling(down), ops.parse_padding(pad),
                              flip, gain)
        torch.testing.assert_close(y, r, **_tol(dtype), msg=lambda m: f"{shape} {how} {flip}: {m}")
        if how == "channels_last":
            assert y.is_contiguous(memory_format=torch.channels_last)
        g = torch.randn_like(r)
        (gx,) = torch.autograd.grad(y, [x], g)
        xr = x0.clone().requires_grad_()
        (rx,) = torch.autograd.grad(upfirdn2d_ref(xr, f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain),
                                    [xr], g)
        torch.testing.assert_close(gx, rx, **_tol(dtype))


@pytest.mark.parametrize("up,down,pad,fname", [(2, 1, (2, 1, 2, 1), "fir4_2d"), (1, 2, (1, 1, 1, 1), "fir4_1d"),
                                               (1, 1, (-1, 2, 1, 0), "rand3x5"), (3, 2, 2, "rand2_1d")])
def test_upfirdn2d_gradcheck_gradgradcheck(mod, up, down, pad, fname):
    f = FILTERS[fname].double()
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)

    def fn(x):
        return _native.upfirdn2d(mod, x, f, ops.parse_scaling(up), ops.parse_scaling(down), ops.parse_padding(pad),
                                 False, 1.5)

    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-6)
    assert torch.autograd.gradgradcheck(fn, (x,), eps=1e-6, atol=1e-6)


def test_upfirdn2d_bfloat16(mod):
    x = torch.randn(1, 8, 16, 16, dtype=torch.bfloat16)
    f = setup_filter([1, 3, 3, 1])
    y = _native.upfirdn2d(mod, x, f, (2, 2), (1, 1), (2, 1, 2, 1), False, 4.0)
    torch.testing.assert_close(y, upfirdn2d_ref(x, f, up=2, padding=(2, 1, 2, 1), gain=4.0), **_tol(torch.bfloat16))


# ------------------------------------------------------------------------------------------------------------------
# Dispatch (LATENTEDIT_OPS) and errors
# ------------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("m", ["auto", "native", "strict"])
def test_dispatch_helpers_match_reference(mod, monkeypatch, m):
    monkeypatch.setenv("LATENTEDIT_OPS", m)
    x = torch.randn(2, 4, 11, 10)
    f = setup_filter([1, 3, 3, 1], separable=False)
    for fn in (ops.upsample2d, ops.downsample2d, ops.filter2d):
        y = fn(x, f)
        monkeypatch.setenv("LATENTEDIT_OPS", "ref")
        r = fn(x, f)
        monkeypatch.setenv("LATENTEDIT_OPS", m)
        torch.testing.assert_close(y, r, rtol=1e-5, atol=1e-5)
    b = torch.randn(4)
    torch.testing.assert_close(ops.fused_bias_act(x, b, act="lrelu", clamp=0.5),
                               fused_bias_act_ref(x, b, act="lrelu", clamp=0.5))


def test_strict_rejects_unsupported_arguments(mod, monkeypatch):
    monkeypatch.setenv("LATENTEDIT_OPS", "strict")
    with pytest.raises(ops.UnsupportedOpError, match="float16"):
        ops.fused_bias_act(torch.randn(2, 3).half(), act="lrelu")
    with pytest.raises(ops.UnsupportedOpError, match="bias dtype"):
        ops.fused_bias_act(torch.randn(2, 3), torch.randn(3, dtype=torch.float64))
    f = setup_filter([1, 3, 3, 1]).requires_grad_()
    with pytest.raises(ops.UnsupportedOpError, match="filter requires grad"):
        ops.upfirdn2d(torch.randn(1, 1, 4, 4), f, padding=2)
    # auto quietly takes the reference for the same calls
    monkeypatch.setenv("LATENTEDIT_OPS", "auto")
    y = ops.upfirdn2d(torch.randn(1, 1, 4, 4), f, padding=2)
    assert y.requires_grad


def test_clear_errors(mod, monkeypatch):
    monkeypatch.setenv("LATENTEDIT_OPS", "bogus")
    with pytest.raises(ValueError, match="auto, ref, native, strict"):
        ops.fused_bias_act(torch.randn(2, 3))
    monkeypatch.setenv("LATENTEDIT_OPS", "strict")
    with pytest.raises(ValueError, match="unknown activation"):
        ops.fused_bias_act(torch.randn(2, 3), act="gelu2")
    with pytest.raises(ValueError, match="bias must be"):
        ops.fused_bias_act(torch.randn(2, 3), torch.randn(4))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ops.upfirdn2d(torch.randn(3, 4, 4), setup_filter([1, 1]))
    with pytest.raises(ValueError, match="factors must be >= 1"):
        ops.upfirdn2d(torch.randn(1, 1, 4, 4), setup_filter([1, 1]), up=0)
    with pytest.raises(RuntimeError, match="output would be empty"):
        ops.upfirdn2d(torch.randn(1, 1, 4, 4), setup_filter([1, 1]), padding=-3)


def test_r1_and_path_length_second_order_match_reference(mod, monkeypatch):
    """Double backward through the real networks (R1 on D, a path-length-like penalty on G), native vs reference."""
    stylegan2 = pytest.importorskip("latentedit.stylegan2")
    from tests.conftest import tiny_generator

    torch.manual_seed(0)
    D = stylegan2.Discriminator(stylegan2.DiscriminatorConfig(resolution=16, channels=(8, 8, 8))).double()
    G = tiny_generator().double()
    x0 = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    w0 = torch.randn(4, G.synthesis.num_ws, G.synthesis.w_dim, dtype=torch.float64)
    noise = torch.Generator().manual_seed(1)
    results = {}
    for m in ("ref", "strict"):
        monkeypatch.setenv("LATENTEDIT_OPS", m)
        D.zero_grad()
        G.zero_grad()
        x = x0.clone().requires_grad_()
        (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
        r1 = g.square().sum()
        r1.backward()
        w = w0.clone().requires_grad_()
        img = G.synthesis(w)
        noise.manual_seed(1)
        (gw,) = torch.autograd.grad((img * torch.randn(img.shape, generator=noise, dtype=img.dtype)).sum(), w,
                                    create_graph=True)
        pl = gw.square().sum()
        pl.backward()
        grads = {n: (p.grad.clone() if p.grad is not None else torch.zeros_like(p))
                 for n, p in list(D.named_parameters()) + list(G.synthesis.named_parameters())}
        results[m] = (r1.detach(), pl.detach(), grads)
    (r1a, pla, ga), (r1b, plb, gb) = results["ref"], results["strict"]
    torch.testing.assert_close(r1b, r1a)
    torch.testing.assert_close(plb, pla)
    for k in ga:
        torch.testing.assert_close(gb[k], ga[k], rtol=1e-9, atol=1e-12, msg=k)
