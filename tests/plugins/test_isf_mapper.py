"""The built-in `isf` plugin: contract, multimodality, multi-attribute codes, NaN = keep, layer masks, config."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

try:
    import latentedit_isf  # noqa: F401
except ImportError:  # the editable install predates the plugin folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from latentedit.losses import LOSS_NAMES
from latentedit.plugins import ConfigError, GeneratorInfo
from latentedit.testing.mapper_contract import check_mapper_contract
from latentedit_isf import ISF_LOSS_WEIGHTS, ISFConfig, ISFMapper

GI = GeneratorInfo(num_ws=6, w_dim=16, attribute_names=("smile", "glasses", "age"), resolution=16)
SMALL = ISFConfig(z_dim=8, hidden_dim=16)


def _inputs(b=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, GI.num_ws, GI.w_dim, generator=g), torch.randint(0, 2, (b, GI.n_attr), generator=g).float()


@pytest.mark.parametrize("config", [SMALL, ISFConfig(z_dim=4, hidden_dim=8, shared_heads=True, residual=False,
                                                     keep_code=False),
                                    ISFConfig(z_dim=4, hidden_dim=8, layer_masks=(("smile", (4, 5)),)),
                                    ISFConfig(z_dim=4, hidden_dim=8, shared_delta=True, relative_delta=True)])
def test_contract(tmp_path, config):
    check_mapper_contract(ISFMapper, config, tmp_path=tmp_path)


def test_default_config_passes_contract_and_declares_isf_weights(tmp_path):
    check_mapper_contract(ISFMapper, tmp_path=tmp_path)
    w = ISFMapper.default_loss_weights()
    assert set(w) <= set(LOSS_NAMES) and w == ISF_LOSS_WEIGHTS
    assert (w["attribute"], w["diversity"], w["neighbourhood"], w["identity"]) == (2.0, 2.0, 0.01, 0.0)
    m = ISFMapper(None, GI)
    assert m.kind == "trainable" and m.takes_noise and m.z_dim == 64
    from latentedit.training.config import build_run_config

    run = build_run_config("isf", ISFMapper, {"trainer": ISFMapper.default_trainer_config()})
    tc = run.trainer
    assert (tc.lr, tc.betas, tc.ema_beta, tc.discriminator) == (1e-5, (0.0, 0.99), 0.999, "joint")
    assert tc.losses.diversity_decay_steps == tc.steps == 50000


def test_different_noise_gives_different_edits_same_noise_same_edit():
    m = ISFMapper(SMALL, GI).eval()
    w, t = _inputs()
    z1, z2 = m.sample_noise(4, generator=torch.Generator().manual_seed(1)), m.sample_noise(
        4, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a, b, a2 = m(w, target=t, z=z1), m(w, target=t, z=z2), m(w, target=t, z=z1)
    assert torch.equal(a, a2)
    assert (a - b).abs().mean(dim=(1, 2)).min() > 1e-4  # every sample moved by the noise
    # several attributes in one pass: changing one target column changes the output
    t2 = t.clone()
    t2[:, 1] = 1 - t2[:, 1]
    with torch.no_grad():
        assert (m(w, target=t2, z=z1) - a).abs().amax() > 1e-4


def test_residual_starts_near_identity_and_z_none_is_deterministic():
    m = ISFMapper(SMALL, GI).eval()
    w, t = _inputs()
    with torch.no_grad():
        out = m(w, target=t)
        assert torch.equal(out, m(w, target=t, z=torch.zeros(4, 8)))
    assert (out - w).abs().mean() < 0.5 * w.abs().mean()


def test_shared_delta_adds_the_layer_mean_of_the_change_to_every_layer():
    torch.manual_seed(0)
    per_layer = ISFMapper(SMALL.replace(residual_init_scale=1.0), GI).eval()
    shared = ISFMapper(SMALL.replace(residual_init_scale=1.0, shared_delta=True), GI).eval()
    shared.load_state_dict(per_layer.state_dict())
    w, t = _inputs()
    w = w[:, :1].expand_as(w).contiguous()          # a W code broadcast to W+
    z = per_layer.sample_noise(4)
    with torch.no_grad():
        d_layer, d_shared = per_layer(w, target=t, z=z) - w, shared(w, target=t, z=z) - w
    assert float((d_layer - d_layer[:, :1]).abs().amax()) > 1e-3       # per-layer changes differ ...
    torch.testing.assert_close(d_shared, d_layer.mean(dim=1, keepdim=True).expand_as(w))  # ... shared: their mean
    out = shared(w, target=t, z=z)
    assert torch.equal(out, out[:, :1].expand_as(out))                 # a W source stays in W
    with pytest.raises(ConfigError, match="shared_delta=True needs residual=True"):
        ISFConfig(shared_delta=True, residual=False)


def test_relative_delta_keeps_everything_exactly_and_has_no_target_blind_part():
    torch.manual_seed(0)
    m = ISFMapper(SMALL.replace(residual_init_scale=1.0, relative_delta=True), GI).eval()
    plain = ISFMapper(SMALL.replace(residual_init_scale=1.0), GI).eval()
    plain.load_state_dict(m.state_dict())
    w, t = _inputs()
    z = m.sample_noise(4)
    keep = torch.full((4, GI.n_attr), float("nan"))
    with torch.no_grad():
        assert torch.equal(m(w, target=keep, z=z), w)                  # keep everything: the input, exactly
        assert float((plain(w, target=keep, z=z) - w).abs().amax()) > 1e-2   # the plain mapper moves it anyway
        # the change = plain change for the target minus plain change for keep-everything
        torch.testing.assert_close(m(w, target=t, z=z) - w,
                                   (plain(w, target=t, z=z) - w) - (plain(w, target=keep, z=z) - w))
    with pytest.raises(ConfigError, match="relative_delta=True needs residual=True and keep_code=True"):
        ISFConfig(relative_delta=True, keep_code=False)


def test_layer_masks_copy_untouched_layers_back():
    cfg = ISFConfig(z_dim=8, hidden_dim=16, layer_masks=(("smile", (4, 5)), ("glasses", (2, 3))))
    m = ISFMapper(cfg, GI).eval()
    w, _ = _inputs()
    nan = float("nan")
    smile_only = torch.tensor([[1.0, nan, nan]]).repeat(4, 1)
    with torch.no_grad():
        out = m(w, target=smile_only, z=m.sample_noise(4))
    changed = (out - w).abs().amax(dim=(0, 2)) > 0
    assert changed.tolist() == [False, False, False, False, True, True]
    both = torch.tensor([[1.0, 0.0, nan]]).repeat(4, 1)
    with torch.no_grad():
        out = m(w, target=both, z=m.sample_noise(4))
    assert ((out - w).abs().amax(dim=(0, 2)) > 0).tolist() == [False, False, True, True, True, True]
    # age has no mask: it may change every layer; nothing edited -> nothing changes
    with torch.no_grad():
        assert ((m(w, target=torch.tensor([[nan, nan, 1.0]]).repeat(4, 1)) - w).abs().amax(dim=(0, 2)) > 0).all()
        assert torch.equal(m(w, target=torch.full((4, 3), nan)), w)
    # ISF's behaviour: masks at test time only
    m2 = ISFMapper(cfg.replace(masks_in_training=False), GI).train()
    out = m2(w, target=smile_only)
    assert ((out - w).abs().amax(dim=(0, 2)) > 0).all()


def test_condition_target_hides_some_unchanged_attributes():
    m = ISFMapper(SMALL.replace(keep_prob=0.5), GI)
    src = torch.randint(0, 2, (64, 3)).float()
    full = src.clone()
    full[:, 0] = 1 - full[:, 0]
    target = m.condition_target(full, src, generator=torch.Generator().manual_seed(0))
    assert torch.equal(target[:, 0], full[:, 0])  # what changes is always given
    hidden = torch.isnan(target[:, 1:])
    assert 0.2 < hidden.float().mean() < 0.8 and torch.equal(target[:, 1:][~hidden], src[:, 1:][~hidden])
    assert torch.equal(ISFMapper(SMALL.replace(keep_prob=0.0), GI).condition_target(full, src), full)
    no_keep = ISFMapper(SMALL.replace(keep_code=False), GI)
    assert torch.equal(no_keep.condition_target(full, src), full)
    with pytest.raises(ValueError, match="keep_code=False cannot keep"):
        no_keep(torch.zeros(1, 6, 16), target=torch.tensor([[1.0, float("nan"), 0.0]]))


def test_config_errors_are_clear():
    with pytest.raises(ConfigError, match="keep_prob"):
        ISFConfig(keep_prob=1.5)
    with pytest.raises(ConfigError, match="z_dim"):
        ISFConfig(z_dim=0)
    with pytest.raises(ConfigError, match=r"unknown attributes \['beard'\]"):
        ISFMapper(ISFConfig(layer_masks=(("beard", (0,)),)), GI)
    with pytest.raises(ConfigError, match="bad layers"):
        ISFMapper(ISFConfig(layer_masks=(("smile", (9,)),)), GI)
    cfg = ISFConfig().with_overrides(['layer_masks=[["smile", [4, 5]]]', "residual=false"])
    assert cfg.masks_dict() == {"smile": (4, 5)} and cfg.residual is False


def test_config_travels_with_the_file(tmp_path):
    cfg = SMALL.replace(keep_prob=0.25, residual=False, layer_masks=(("age", (1, 2)),))
    m = ISFMapper(cfg, GI)
    m.save(tmp_path / "isf.safetensors")
    again = ISFMapper.load(tmp_path / "isf.safetensors")
    from latentedit.io.modelfile import read_model_file

    assert read_model_file(tmp_path / "isf.safetensors")[3]["mapper_name"] == "isf"
    assert again.config == cfg and again.config.keep_prob == 0.25
