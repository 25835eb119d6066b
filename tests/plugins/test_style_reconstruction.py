"""The shared trainer's ``style_reconstruction`` term (StarGAN v2): the edited image, encoded again, must give back
the style it was edited with, on the style columns the edit used (the sensorium mapper's ``style_mask``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

try:
    import latentedit_sensorium  # noqa: F401
except ImportError:  # the editable install predates the plugin folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from latentedit.plugins import registered_mapper
from latentedit.testing.mapper_contract import TINY_GENERATOR
from latentedit.training.config import build_run_config
from latentedit.training.objective import style_reconstruction_loss
from latentedit.training.toys import LinearJudge, tiny_generator
from latentedit.training.trainer import MapperTrainer
from latentedit_sensorium import SensoriumMapper
from tests.conftest import sensorium_small, tiny_world

SMALL = sensorium_small()
NAN = float("nan")


def test_loss_is_the_masked_mean_absolute_difference():
    a = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    b = torch.tensor([[1.5, 0.0, 3.0], [1.0, -1.0, 4.0]])
    assert style_reconstruction_loss(a, b).item() == pytest.approx((0.5 + 2 + 0 + 1 + 1 + 4) / 6)
    mask = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert style_reconstruction_loss(a, b, mask).item() == pytest.approx((0.5 + 2 + 4) / 3)
    assert style_reconstruction_loss(a, b, torch.zeros(2, 3)).item() == 0.0


def _head_says(m, values):
    """Make the attribute head read ``values`` (n_attr,) in {0, 1} from any style."""
    with torch.no_grad():
        m.attribute_head.weight.zero_()
        m.attribute_head.bias.copy_(torch.tensor([30.0 if v else -30.0 for v in values]))


def test_style_mask_keeps_the_groups_an_edit_changes_in_agreement_with_the_style():
    torch.manual_seed(0)
    m = SensoriumMapper(SMALL, TINY_GENERATOR).eval()
    cols = m.group_slices()
    names = m.group_names
    w, s = torch.randn(2, 6, 16), torch.randn(2, 7)
    _head_says(m, [1, 0, 1])
    # row 0 asks names[0] = 1 (the style agrees), row 1 asks names[1] = 1 (the style says 0: left out)
    mask = m.style_mask(w, target=torch.tensor([[1.0, NAN, NAN], [NAN, 1.0, NAN]]), style=s)
    want = torch.zeros(2, 7)
    want[0, cols[names[0]]] = 1.0
    assert torch.equal(mask, want)
    # a reference transfer: the groups where the head (1, 0, 1) and the latent reader differ
    with torch.no_grad():
        m.latent_reader.weight.zero_()
        m.latent_reader.bias.copy_(torch.tensor([30.0, 30.0, -30.0]))
    mask = m.style_mask(w, target=None, style=s)
    want = torch.zeros(2, 7)
    for g in (names[1], names[2]):
        want[:, cols[g]] = 1.0
    assert torch.equal(mask, want)
    # one branch (unsplit): every column, whenever the call changes something the style agrees with
    m1 = SensoriumMapper(SMALL.replace(split_groups=False), TINY_GENERATOR).eval()
    _head_says(m1, [1, 0, 1])
    mask = m1.style_mask(w, target=torch.tensor([[1.0, NAN, NAN], [NAN, NAN, NAN]]), style=s)
    assert torch.equal(mask, torch.tensor([[1.0] * 7, [0.0] * 7]))


def _run(tmp_path, weight: float, steps: int = 120):
    G, judge = tiny_world()
    run = build_run_config("sensorium", SensoriumMapper, {
        "mapper": {"style_dim": 8, "encoder_channels": [8, 16], "encoder_input": 16, "hidden_dim": 32,
                   "reference_code": True, "relative_delta": True, "keep_prob": 1.0, "encoder_norm": True},
        "trainer": {"steps": steps, "batch": 16, "lr": 3e-3, "ema_beta": 0.0, "progress": False, "sample_count": 0,
                    "sample_interval": 0, "checkpoint_interval": 0, "targets": "alternate",
                    "loss_weights": {"lpips": 0.0, "identity": 0.0, "style_reconstruction": weight}}})
    with registered_mapper("sensorium", SensoriumMapper):
        t = MapperTrainer(run, G, tmp_path, mapper_class=SensoriumMapper, classifier=judge)
        summary = t.train()
    return G, t.ema.eval(), summary


def test_trained_with_it_the_edit_carries_the_style(tmp_path):
    """Same run with and without the term: with it, the style read back from an edit moves with the style asked
    (its error is smaller), and the term is logged."""
    scores = {}
    for weight in (0.0, 2.0):
        G, m, summary = _run(tmp_path / str(weight), weight)
        assert ("style_reconstruction" in summary["losses"]) == (weight > 0)
        with torch.no_grad():
            g = torch.Generator().manual_seed(3)
            w = G.mapping(torch.randn(64, G.z_dim, generator=g))
            target = torch.tensor([[1.0, NAN]]).repeat(64, 1)
            s = m.encode_style(G.synthesis(G.mapping(torch.randn(64, G.z_dim, generator=g)), noise_mode="const"))
            back = m.encode_style(G.synthesis(m(w, target=target, style=s), noise_mode="const"))
            mask = m.style_mask(w, target=target, style=s)
            scores[weight] = style_reconstruction_loss(back, s, mask).item() / max(s[mask > 0].std().item(), 1e-8)
    assert scores[2.0] < 0.8 * scores[0.0], scores


def test_a_mapper_without_an_encoder_is_refused(tmp_path):
    from latentedit_isf import ISFMapper

    G = tiny_generator(16, z_dim=8, w_dim=8)
    weights = {k: 0.0 for k in ISFMapper.default_loss_weights()} | {"attribute": 1.0, "style_reconstruction": 1.0}
    run = build_run_config("isf", ISFMapper, {"mapper": {"z_dim": 4, "hidden_dim": 8},
                                              "trainer": {"steps": 1, "progress": False, "loss_weights": weights}})
    with registered_mapper("isf", ISFMapper), pytest.raises(ValueError, match="no encode_style hook"):
        MapperTrainer(run, G, tmp_path, mapper_class=ISFMapper, classifier=LinearJudge(2, pool=1, seed=0).eval())
