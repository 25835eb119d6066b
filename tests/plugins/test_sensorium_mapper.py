"""The sensorium mapper: contract, style encoder behaviour, KL numbers, modulation, groups and masks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

try:
    import latentedit_sensorium  # noqa: F401
except ImportError:  # the editable install predates the plugin folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from latentedit.plugins import ConfigError, GeneratorInfo
from latentedit.testing.mapper_contract import TINY_GENERATOR, check_mapper_contract
from latentedit_sensorium import SensoriumConfig, SensoriumMapper
from latentedit_sensorium.kl_hook import with_kl_gradient
from latentedit_sensorium.modulation import modulated_linear
from latentedit_sensorium.style_encoder import kl_to_standard_normal

SMALL = SensoriumConfig(style_dim=7, encoder_channels=(4, 8), encoder_input=16, hidden_dim=8)


@pytest.mark.parametrize("cfg", [SMALL, SMALL.replace(split_groups=False, demodulate=False),
                                 SMALL.replace(layer_masks=(("smile", (0, 1)),), encoder_coords=False)])
def test_contract(cfg, tmp_path):
    check_mapper_contract(SensoriumMapper, cfg, tmp_path=tmp_path)


def _mapper(cfg=SMALL, gi=TINY_GENERATOR):
    torch.manual_seed(0)
    return SensoriumMapper(cfg, gi).eval()


def test_style_depends_on_the_reference_only():
    m = _mapper()
    g = torch.Generator().manual_seed(1)
    refs = torch.rand(4, 3, 16, 16, generator=g) * 2 - 1
    s = m.encode_style(refs)
    assert s.shape == (4, 7)
    assert torch.allclose(m.encode_style(refs[:1]), s[:1], atol=1e-6)    # batch-independent
    assert (s[0] - s[1]).abs().max() > 1e-4                    # varies with the reference
    # invariant to the source: the same reference style edits two different sources with the same style vector,
    # and encode_style never sees the source (w_plus is ignored)
    w = torch.randn(4, TINY_GENERATOR.num_ws, TINY_GENERATOR.w_dim, generator=g)
    assert torch.equal(m.encode_style(refs, w_plus=w), m.encode_style(refs, w_plus=torch.zeros_like(w)))
    # references of another size are resized
    assert m.encode_style(torch.zeros(2, 3, 32, 32)).shape == (2, 7)


def test_style_changes_the_edit_and_zero_gate_keeps_the_source():
    m = _mapper(SMALL.replace(residual_init_scale=1.0))
    g = torch.Generator().manual_seed(2)
    w = torch.randn(2, 6, 16, generator=g)
    a, b = torch.randn(2, 7, generator=g), torch.randn(2, 7, generator=g)
    assert (m(w, style=a) - m(w, style=b)).abs().max() > 1e-4
    keep_all = torch.full((2, 3), float("nan"))
    assert torch.equal(m(w, target=keep_all, style=a), w)      # every attribute kept -> no group active


def test_group_chunk_drives_only_its_branch():
    m = _mapper(SMALL.replace(residual_init_scale=1.0))
    g = torch.Generator().manual_seed(3)
    w, s = torch.randn(1, 6, 16, generator=g), torch.randn(1, 7, generator=g)
    sl = m.group_slices()
    assert [(v.start, v.stop) for v in sl.values()] == [(0, 3), (3, 5), (5, 7)]
    only_smile = torch.tensor([[1.0, float("nan"), float("nan")]])
    s2 = s.clone()
    s2[:, sl["glasses"]] += 5.0                                # another group's chunk: no effect on a smile edit
    assert torch.allclose(m(w, target=only_smile, style=s), m(w, target=only_smile, style=s2))
    s3 = s.clone()
    s3[:, sl["smile"]] += 5.0
    assert not torch.allclose(m(w, target=only_smile, style=s), m(w, target=only_smile, style=s3))


def test_layer_masks_confine_a_group():
    m = _mapper(SMALL.replace(residual_init_scale=1.0, layer_masks=(("smile", (4, 5)),)))
    w, s = torch.randn(2, 6, 16), torch.randn(2, 7)
    out = m(w, target=torch.tensor([[1.0, float("nan"), float("nan")]] * 2), style=s)
    assert torch.equal(out[:, :4], w[:, :4]) and not torch.equal(out[:, 4:], w[:, 4:])


def test_kl_matches_hand_computation_and_gradient_hook():
    mu = torch.tensor([[0.5, -1.0], [0.0, 2.0]])
    logvar = torch.tensor([[0.0, -1.0], [1.0, 0.5]])
    # per row: 0.5 * sum(mu^2 + e^lv - 1 - lv)
    r0 = 0.5 * ((0.25 + 1 - 1 - 0) + (1.0 + torch.e ** -1 - 1 + 1))
    r1 = 0.5 * ((0 + torch.e - 1 - 1) + (4.0 + torch.e ** 0.5 - 1 - 0.5))
    assert kl_to_standard_normal(mu, logvar).item() == pytest.approx((r0 + r1) / 2, rel=1e-6)
    assert kl_to_standard_normal(torch.zeros(3, 4), torch.zeros(3, 4)).item() == 0.0
    # the hook adds exactly weight * dKL to the gradients
    a, b = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
    (0.3 * kl_to_standard_normal(a, b)).backward()
    c, d = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
    m2, l2 = with_kl_gradient(c, d, 0.3)
    (m2.sum() * 0 + l2.sum() * 0).backward()                   # only the hook's gradient remains
    assert torch.allclose(c.grad, a.grad) and torch.allclose(d.grad, b.grad)


def test_modulated_linear_demodulates():
    x, weight, scales = torch.randn(2, 1, 5, 4), torch.randn(1, 3, 4), torch.rand(2, 1, 4) + 0.5
    y = modulated_linear(x, weight, scales)
    w = weight[None] * scales[:, :, None, :]
    w = w / w.square().sum(-1, keepdim=True).sqrt()
    assert torch.allclose(y, torch.einsum("bgni,bgoi->bgno", x, w), atol=1e-6)
    assert torch.allclose(modulated_linear(x, weight, 3 * scales), y, atol=1e-5)    # scale-free after demod


def test_config_errors_say_what_to_do():
    with pytest.raises(ConfigError, match="style_dim"):
        SensoriumMapper(SensoriumConfig(style_dim=2), TINY_GENERATOR)
    with pytest.raises(ConfigError, match="not in any group"):
        SensoriumMapper(SMALL.replace(groups=(("face", ("smile",)),)), TINY_GENERATOR)
    with pytest.raises(ConfigError, match="layer_masks"):
        SensoriumMapper(SMALL.replace(layer_masks=(("smile", (9,)),)), TINY_GENERATOR)
    with pytest.raises(ConfigError, match="at least one attribute"):
        SensoriumMapper(SMALL, GeneratorInfo(num_ws=6, w_dim=16, resolution=16))
    m = SensoriumMapper(SMALL.replace(groups=(("face", ("smile", "age")), ("eyes", ("glasses",)))), TINY_GENERATOR)
    assert m.group_names == ("face", "eyes")
