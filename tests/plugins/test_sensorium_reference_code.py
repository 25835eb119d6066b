"""The sensorium mapper's reference code (an attribute head on the style says which values a reference transfer
edits towards), its relative change, and the shared trainer's ``labels`` / ``pop_style_terms`` hooks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

try:
    import latentedit_sensorium  # noqa: F401
except ImportError:  # the editable install predates the plugin folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from latentedit.plugins import ConfigError, load_mapper_file, registered_mapper
from latentedit.testing.mapper_contract import TINY_GENERATOR, check_mapper_contract
from latentedit.training.config import build_run_config
from latentedit.training.objective import hook_takes_labels
from latentedit.training.trainer import MapperTrainer
from latentedit_sensorium import SensoriumMapper
from latentedit_sensorium.training import reference_agreement

from tests.conftest import sensorium_small, tiny_world

SMALL = sensorium_small()
NAN = float("nan")


def _mapper(cfg=SMALL):
    torch.manual_seed(0)
    return SensoriumMapper(cfg, TINY_GENERATOR).eval()


@pytest.mark.parametrize("cfg", [SMALL, SMALL.replace(split_groups=False), SMALL.replace(relative_delta=False)])
def test_contract(cfg, tmp_path):
    check_mapper_contract(SensoriumMapper, cfg, tmp_path=tmp_path)


def test_reference_transfer_asks_for_the_attributes_where_reference_and_source_differ():
    m = _mapper()
    g = torch.Generator().manual_seed(1)
    w, s = torch.randn(3, 6, 16, generator=g), torch.randn(3, 7, generator=g)
    asked = m.reference_target(w, s)
    ref, src = m.attribute_logits(s) > 0, m.source_logits(w) > 0
    edited, values = ~torch.isnan(asked), torch.nan_to_num(asked, nan=0.0)
    assert torch.equal(edited, ref != src) and torch.equal(values, (ref & (ref != src)).float())
    assert torch.equal(m(w, style=s), m(w, target=torch.where(ref != src, ref.float(), float("nan")), style=s))
    with torch.no_grad():                                   # both readers say the same: nothing to transfer
        for lin in (m.attribute_head, m.latent_reader):
            lin.weight.zero_()
            lin.bias.fill_(1.5)
    assert torch.allclose(m(w, style=s), w, atol=1e-6)
    with torch.no_grad():                                   # the reference has every attribute, the source none
        m.attribute_head.bias.fill_(30.0)
        m.latent_reader.bias.fill_(-30.0)
    assert torch.allclose(m(w, style=s), m(w, target=torch.ones(3, 3), style=s), atol=1e-5)
    with torch.no_grad():                                   # ... and the other way round: set every attribute to 0
        m.attribute_head.bias.fill_(-30.0)
        m.latent_reader.bias.fill_(30.0)
    assert torch.allclose(m(w, style=s), m(w, target=torch.zeros(3, 3), style=s), atol=1e-5)
    assert (m(w, style=s) - w).abs().max() > 1e-3


def test_condition_target_keeps_unchanged_attributes():
    m = _mapper(SMALL.replace(keep_prob=1.0))
    source = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    target = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    got = m.condition_target(target, source, keep_u=torch.rand(2, 3))
    assert torch.equal(torch.isnan(got), target == source)
    assert torch.equal(got[~torch.isnan(got)], target[target != source])
    assert torch.equal(_mapper().condition_target(target, source), target)          # keep_prob 0: unchanged


def test_each_group_reads_its_values_from_its_own_chunk():
    m = _mapper()
    sl = m.group_slices()
    s = torch.randn(2, 7, generator=torch.Generator().manual_seed(2))
    s2 = s.clone()
    s2[:, sl["glasses"]] += 3.0
    before, after = m.attribute_logits(s), m.attribute_logits(s2)
    glasses = list(TINY_GENERATOR.attribute_names).index("glasses")
    others = [i for i in range(TINY_GENERATOR.n_attr) if i != glasses]
    assert torch.equal(before[:, others], after[:, others])
    assert (before[:, glasses] - after[:, glasses]).abs().min() > 1e-3
    # one global style: every attribute may read every column
    unsplit = _mapper(SMALL.replace(split_groups=False))
    assert (unsplit.attribute_logits(s) - unsplit.attribute_logits(s2)).abs().min() > 1e-4


def _blind_to_code(m):
    """Zero the weights by which the code (target values and edit mask) reaches the branches."""
    n_code = 2 * TINY_GENERATOR.n_attr
    with torch.no_grad():
        for block in m.blocks:
            block.affine.weight[:, :, -n_code:] = 0.0
    return m


def test_relative_change_cannot_ignore_the_code():
    """With relative_delta, a mapper blind to the code changes nothing; without it, the same blind mapper still
    shifts every edited face (the target-blind shift the isf mapper also had)."""
    g = torch.Generator().manual_seed(3)
    w, s = torch.randn(2, 6, 16, generator=g), torch.randn(2, 7, generator=g)
    target = torch.tensor([[1.0, NAN, 0.0], [0.0, 1.0, NAN]])
    relative = _blind_to_code(_mapper())
    assert torch.allclose(relative(w, target=target, style=s), w, atol=1e-6)
    assert torch.allclose(relative(w, style=s), w, atol=1e-6)
    absolute = _blind_to_code(_mapper(SMALL.replace(relative_delta=False)))
    assert (absolute(w, target=target, style=s) - w).abs().max() > 1e-3


def test_encode_style_queues_the_attribute_heads_bce():
    m = _mapper(SMALL.replace(attribute_head_weight=0.5)).train()
    g = torch.Generator().manual_seed(4)
    refs = torch.rand(4, 3, 16, 16, generator=g) * 2 - 1
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    w = torch.randn(4, 6, 16, generator=g)
    m.encode_style(refs, w_plus=w, labels=labels)
    m.encode_style(refs, labels=1.0 - labels)                              # a second call adds to the term
    terms = m.pop_style_terms()
    mu = m.encode(refs)[0]
    logits = m.attribute_logits(mu)
    expected = 0.5 * (F.binary_cross_entropy_with_logits(logits, labels)
                      + F.binary_cross_entropy_with_logits(logits, 1.0 - labels))
    assert set(terms) == {"style_attribute", "latent_reader"}
    assert terms["style_attribute"].item() == pytest.approx(expected.item(), rel=1e-5)
    reader = 0.5 * F.binary_cross_entropy_with_logits(m.latent_reader(w.mean(1)), labels)
    assert terms["latent_reader"].item() == pytest.approx(reader.item(), rel=1e-5)
    sum(terms.values()).backward()
    assert m.attribute_head.weight.grad.abs().sum() > 0 and m.encoder.mu.weight.grad.abs().sum() > 0
    assert m.latent_reader.weight.grad.abs().sum() > 0
    assert m.pop_style_terms() == {}                                       # cleared
    with pytest.raises(ValueError, match=r"labels must be \(B, 3\)"):
        m.encode_style(refs, labels=labels[:, :2])
    m.eval().encode_style(refs, labels=labels)                             # evaluation: nothing is queued
    assert m.pop_style_terms() == {}
    plain = SensoriumMapper(SMALL.replace(reference_code=False), TINY_GENERATOR).train()
    plain.encode_style(refs, w_plus=w, labels=labels)                      # no head: labels are not used
    assert plain.pop_style_terms() == {}
    with pytest.raises(ConfigError, match="reference_code"):
        plain.attribute_logits(torch.zeros(1, 7))
    with pytest.raises(ConfigError, match="reference_code"):
        plain.source_logits(w)


def test_hook_takes_labels():
    assert hook_takes_labels(_mapper().encode_style)
    assert hook_takes_labels(lambda *, images, w_plus, **kw: images)
    assert not hook_takes_labels(lambda *, images, w_plus: images)


def test_shared_trainer_trains_the_head_and_reference_transfer(tmp_path):
    """The trainer hands the judge's labels to encode_style, logs the head's term, and reference transfer
    (target=None, values read by the head) rises from the unedited baseline to well above it."""
    G, judge = tiny_world()
    run = build_run_config("sensorium", SensoriumMapper, {
        "mapper": {"style_dim": 8, "encoder_channels": [8, 16], "encoder_input": 16, "hidden_dim": 32,
                   "reference_code": True, "relative_delta": True, "keep_prob": 1.0},
        "trainer": {"steps": 300, "batch": 16, "lr": 3e-3, "ema_beta": 0.9, "progress": False, "sample_count": 0,
                    "sample_interval": 0, "checkpoint_interval": 0, "targets": "alternate",
                    "loss_weights": {"lpips": 0.0, "identity": 0.0}}})
    with registered_mapper("sensorium", SensoriumMapper):
        t = MapperTrainer(run, G, tmp_path, mapper_class=SensoriumMapper, classifier=judge)
        before = reference_agreement(t.ema, G, judge)
        summary = t.train()
        result = load_mapper_file(tmp_path / "mapper_ema.safetensors")
    assert {"style_attribute", "latent_reader"} <= set(summary["losses"])
    after = reference_agreement(result, G, judge)
    # 300 steps land at 0.84-0.86 (108-110 of 128 references): a float-rounding-level change in the synthesis
    # (ToRGB's summation order) moves the trajectory by two references, so the bar leaves that margin
    assert before["agreement"] < 0.7 and after["agreement"] >= 0.8, (before, after)
    # the head reads the reference's labels
    with torch.no_grad():
        x = G.synthesis(G.mapping(torch.randn(128, G.z_dim, generator=torch.Generator().manual_seed(7))),
                        noise_mode="const")
        read = result.attribute_logits(result.encode_style(x)) > 0
    assert (read == (judge(x) > 0)).float().mean() >= 0.85


def test_parameter_groups_follow_the_mappers_lr_multipliers():
    from latentedit.plugins import ConfigError as CfgError
    from latentedit.training.trainer import parameter_groups

    m = _mapper(SMALL.replace(encoder_lr_mul=3.0))
    groups = parameter_groups(m, 1e-3)
    by_lr = {g["lr"]: {id(p) for p in g["params"]} for g in groups}
    assert sorted(by_lr) == [pytest.approx(1e-3), pytest.approx(3e-3)]
    fast = {id(p) for n, p in m.named_parameters() if n.startswith(("encoder.", "attribute_head.", "latent_reader."))}
    assert by_lr[max(by_lr)] == fast
    assert set().union(*by_lr.values()) == {id(p) for p in m.parameters()}        # every parameter, once
    assert sum(len(g["params"]) for g in groups) == len(list(m.parameters()))
    assert [g["lr"] for g in parameter_groups(_mapper(), 1e-3)] == [1e-3]          # multiplier 1: one group
    m.lr_multipliers = lambda: {"encoder.": 0}
    with pytest.raises(CfgError, match="positive"):
        parameter_groups(m, 1e-3)
    with pytest.raises(ConfigError, match="encoder_lr_mul"):
        SMALL.replace(encoder_lr_mul=0.0)


def test_normalised_encoder_tells_faces_apart_from_the_start():
    """With PyTorch's default init the pooled features of different images are nearly equal; encoder_norm (He
    init + LayerNorm) makes the styles of different references differ by a usable margin at step 0."""
    g = torch.Generator().manual_seed(5)
    base = torch.rand(1, 3, 16, 16, generator=g) * 2 - 1
    refs = (base + 0.3 * (torch.rand(8, 3, 16, 16, generator=g) * 2 - 1)).clamp(-1, 1)   # similar "faces"
    spread = {}
    for norm in (False, True):
        m = _mapper(SMALL.replace(encoder_norm=norm))
        mu = m.encode(refs)[0].detach()
        spread[norm] = float(mu.std(0).mean())
    assert spread[True] > 10 * spread[False], spread


def test_grid_pooling_keeps_where_things_are(tmp_path):
    """pool='grid' reads a 4 x 4 grid of the last feature map; a blob moved from one corner to the other changes
    the grid readout much more than the global average (coordinates off, so only pooling can tell)."""
    from latentedit_sensorium.style_encoder import StyleEncoder

    a = torch.full((1, 3, 16, 16), -1.0)
    b = a.clone()
    a[..., 2:6, 2:6] = 1.0
    b[..., 10:14, 10:14] = 1.0
    gaps = {}
    for pool in ("gap", "grid"):
        torch.manual_seed(0)
        enc = StyleEncoder(8, (4, 8), input_size=16, coords=False, normalise=True, pool=pool).eval()
        mu_a, mu_b = enc(a)[0].detach(), enc(b)[0].detach()
        gaps[pool] = float((mu_a - mu_b).norm() / mu_a.norm())
    assert gaps["grid"] > 5 * gaps["gap"], gaps
    with pytest.raises(ValueError, match="pool must be one of"):
        StyleEncoder(8, (4,), pool="max")
    with pytest.raises(ConfigError, match="encoder_pool"):
        SMALL.replace(encoder_pool="max")
    check = _mapper(SMALL.replace(encoder_pool="grid"))
    check_mapper_contract(SensoriumMapper, SMALL.replace(encoder_pool="grid"), tmp_path=tmp_path)
    assert check.encode_style(torch.zeros(2, 3, 16, 16)).shape == (2, 7)
