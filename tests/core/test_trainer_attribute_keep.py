"""``trainer.losses.attribute_keep``: what the attribute loss asks of the attributes a target leaves unchanged."""

from __future__ import annotations

import pytest
import torch

from latentedit.losses import LossSettings
from latentedit.testing.fake_plugins import isolate_plugins
from latentedit.training.config import build_run_config
from latentedit.training.objective import Batch, attribute_loss_target
from latentedit.training.toys import ToyShiftMapper, calibrated_judge, tiny_generator
from latentedit.training.trainer import MapperTrainer


def _batch(**kw) -> Batch:
    w = torch.zeros(2, 4, 8)
    source = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    target = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0]])     # row 0 flips column 0, row 1 column 1
    return Batch(w_plus=w, images=torch.zeros(2, 3, 8, 8), source=source, target=target, **kw)


def test_unchanged_attributes_get_the_source_probability_and_flipped_ones_the_target():
    prob = torch.tensor([[0.9, 0.2, 0.6], [0.4, 0.1, 0.7]])
    assert torch.equal(attribute_loss_target(_batch()), _batch().target)          # 'label': the hard target
    got = attribute_loss_target(_batch(source_prob=prob))
    assert torch.equal(got, torch.tensor([[0.0, 0.2, 0.6], [0.4, 1.0, 0.7]]))
    # reference transfer: the reference's labels are the target of every column
    assert torch.equal(attribute_loss_target(_batch(source_prob=prob, reference_targets=True)), _batch().target)
    with pytest.raises(ValueError, match="attribute_keep must be one of"):
        LossSettings(attribute_keep="soft")


@pytest.mark.parametrize("keep", ["label", "source_prob"])
def test_the_trainer_batch_carries_the_classifier_probabilities_when_asked(tmp_path, monkeypatch, keep):
    isolate_plugins(monkeypatch)
    G = tiny_generator()
    judge = calibrated_judge(G, 2)
    run = build_run_config("toy", ToyShiftMapper, {"trainer": {"batch": 4, "progress": False,
                                                               "losses": {"attribute_keep": keep}}})
    t = MapperTrainer(run, G, tmp_path, mapper_class=ToyShiftMapper, classifier=judge)
    b = t.runner.make_batch(0)
    if keep == "label":
        assert b.source_prob is None
        return
    with torch.no_grad():
        expected = judge(b.images).sigmoid()
    torch.testing.assert_close(b.source_prob, expected)
    assert torch.equal(b.source, (expected > 0.5).float())
    # the objective's attribute term is BCE against that mixed target
    t.objective.step = 0
    terms = t.objective(b)
    with torch.no_grad():
        x = G.synthesis(t.mapper(b.w_plus, target=b.target), noise_mode="const")
        ref = torch.nn.functional.binary_cross_entropy_with_logits(judge(x), attribute_loss_target(b))
    assert float(terms["attribute"].detach()) == pytest.approx(t.weights["attribute"] * float(ref), rel=1e-4)
