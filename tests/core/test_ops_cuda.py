"""Native CUDA kernels against the reference (marker ``gpu``: skipped without a CUDA device)."""

from __future__ import annotations

import pytest
import torch

from latentedit import ops
from latentedit.ops import _native
from latentedit.ops.bias_act_ref import fused_bias_act_ref, resolve_activation
from latentedit.ops.upfirdn2d_ref import setup_filter, upfirdn2d_ref

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cmod():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return _native.get_module("cuda", strict=True)


@pytest.mark.parametrize("act", list(_native.ACT_CODES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_bias_act(cmod, act, dtype):
    _, a, g = resolve_activation(act, None, None)
    for shape, dim, cl in [((3, 5, 7, 9), 1, False), ((2, 16, 5, 4), 1, True), ((6, 11), 1, False)]:
        x0 = torch.randn(shape, dtype=dtype, device="cuda") * 2
        if cl:
            x0 = x0.contiguous(memory_format=torch.channels_last)
        b0 = torch.randn(shape[dim], dtype=dtype, device="cuda")
        outs = []
        for native in (True, False):
            x, b = x0.clone().requires_grad_(), b0.clone().requires_grad_()
            y = (_native.bias_act(cmod, x, b, dim, act, a, g, 0.9) if native
                 else fused_bias_act_ref(x, b, dim, act, a, g, 0.9))
            gx, gb = torch.autograd.grad(y, [x, b], torch.ones_like(y), create_graph=True)
            outs.append((y.detach(), gx.detach(), gb.detach()))
        for n, r in zip(*outs):
            torch.testing.assert_close(n, r, rtol=1e-5, atol=1e-5)


def test_cuda_bias_act_gradgradcheck(cmod):
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, device="cuda", requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, device="cuda", requires_grad=True)
    fn = lambda x, b: _native.bias_act(cmod, x, b, 1, "swish", 0.0, 2 ** 0.5, None)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


@pytest.mark.parametrize("up,down,pad", [(1, 1, 1), (2, 1, (2, 1, 2, 1)), (1, 2, (1, 1, 1, 1)), (2, 2, (-1, 2, 0, 1)),
                                         (3, 1, 2)])
@pytest.mark.parametrize("sep", [True, False])
def test_cuda_upfirdn2d(cmod, up, down, pad, sep):
    f = setup_filter([1, 3, 3, 1], separable=None if sep else False)
    for cl in (False, True):
        x0 = torch.randn(2, 8, 9, 7, device="cuda")
        if cl:
            x0 = x0.contiguous(memory_format=torch.channels_last)
        x = x0.clone().requires_grad_()
        y = _native.upfirdn2d(cmod, x, f, (up, up), (down, down), ops.parse_padding(pad), False, 2.0)
        xr = x0.clone().requires_grad_()
        r = upfirdn2d_ref(xr, f.cuda(), up=up, down=down, padding=pad, gain=2.0)
        torch.testing.assert_close(y, r, rtol=1e-5, atol=1e-5)
        g = torch.randn_like(r)
        torch.testing.assert_close(torch.autograd.grad(y, x, g)[0], torch.autograd.grad(r, xr, g)[0],
                                   rtol=1e-5, atol=1e-5)


def test_cuda_upfirdn2d_gradgradcheck(cmod):
    f = setup_filter([1, 3, 3, 1]).double()
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, device="cuda", requires_grad=True)
    fn = lambda x: _native.upfirdn2d(cmod, x, f, (2, 2), (1, 1), (2, 1, 2, 1), False, 4.0)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))
