"""``LATENTEDIT_OPS=auto`` sends the activations measured no faster natively on the CPU to the reference twin."""

from __future__ import annotations

import pytest
import torch

from latentedit import ops
from latentedit.ops import _native, _policy
from latentedit.ops.bias_act_ref import fused_bias_act_ref


@pytest.fixture
def recorded(monkeypatch):
    """Replace the native call by a recorder (no build needed): returns the list of activations sent native."""
    calls = []
    monkeypatch.setattr(_native, "module_for", lambda device, m: object())

    def fake(mod, x, b, dim, act, alpha, gain, clamp):
        calls.append(act)
        return torch.zeros_like(x)

    monkeypatch.setattr(_native, "bias_act", fake)
    return calls


@pytest.mark.parametrize("act", ["tanh", "softplus", "sigmoid", "elu", "selu"])
def test_auto_uses_the_reference_for_slow_native_activations(monkeypatch, recorded, act):
    monkeypatch.setenv("LATENTEDIT_OPS", "auto")
    x, b = torch.randn(2, 3, 4, 4), torch.randn(3)
    y = ops.fused_bias_act(x, b, act=act)
    assert recorded == []
    torch.testing.assert_close(y, fused_bias_act_ref(x, b, act=act))


@pytest.mark.parametrize("act", ["lrelu", "relu", "linear", "swish"])
def test_auto_keeps_native_where_it_measured_faster(monkeypatch, recorded, act):
    monkeypatch.setenv("LATENTEDIT_OPS", "auto")
    y = ops.fused_bias_act(torch.randn(2, 3, 4, 4), torch.randn(3), act=act)
    assert recorded == [act] and float(y.abs().sum()) == 0.0


def test_native_mode_ignores_the_policy(monkeypatch, recorded):
    monkeypatch.setenv("LATENTEDIT_OPS", "native")
    ops.fused_bias_act(torch.randn(2, 3, 4, 4), torch.randn(3), act="sigmoid")
    assert recorded == ["sigmoid"]


def test_policy_routes_only_the_cpu():
    assert not _policy.bias_act_native(torch.zeros(1), "sigmoid")
    assert _policy.bias_act_native(torch.zeros(1, device="meta"), "sigmoid")
