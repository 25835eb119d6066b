"""The shared trainer's ``reference_intensity`` term: where an edit changes an attribute to the label its reference
has, the classifier must read the edit as strongly as it reads the reference (Huber on the logits), and those terms
are judged by the attribute loss without its margin. Plus the evaluation's ``intensity_gaps``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

try:
    import latentedit_sensorium  # noqa: F401
except ImportError:  # the editable install predates the plugin folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from latentedit_toyfaces.evaluation.reference_quality import intensity_gaps
from latentedit.losses import AttributeLoss, attribute_loss, intensity_loss
from latentedit.plugins import ConfigError, registered_mapper
from latentedit.training.config import build_run_config
from latentedit.training.objective import Batch, intensity_terms
from latentedit.training.toys import LinearJudge, tiny_generator
from latentedit.training.trainer import MapperTrainer
from latentedit_sensorium import SensoriumMapper
from tests.conftest import tiny_world


def test_intensity_loss_is_the_masked_mean_huber_distance():
    logits = torch.tensor([[0.0, 3.0], [5.0, 1.0]])
    ref = torch.tensor([[0.5, 0.0], [5.0, 4.0]])
    mask = torch.tensor([[1, 1], [0, 1]], dtype=torch.bool)
    # |0.5| < 1: 0.5 * 0.5^2 = 0.125; |3| >= 1: 3 - 0.5 = 2.5 (twice); the masked 0 does not count
    assert intensity_loss(logits, ref, mask).item() == pytest.approx((0.125 + 2.5 + 2.5) / 3)
    assert intensity_loss(logits, ref, torch.zeros(2, 2)).item() == 0.0
    # no gradient reaches the reference
    r = ref.clone().requires_grad_(True)
    l = logits.clone().requires_grad_(True)
    intensity_loss(l, r, mask).backward()
    assert r.grad is None and l.grad is not None
    with pytest.raises(ValueError, match=r"one shape \(B, n_attr\)"):
        intensity_loss(logits, ref[:1], mask)


def test_the_terms_are_the_changes_the_reference_agrees_with():
    source = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    target = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    ref_logits = torch.tensor([[4.0, 2.0, 3.0], [-1.0, 6.0, -2.0]])
    b = Batch(w_plus=torch.zeros(2, 1, 1), images=torch.zeros(2, 3, 1, 1), source=source, target=target,
              ref_logits=ref_logits)
    # row 0: attr 0 added and the reference has it (yes); attr 1 removed but the reference has it (no); attr 2 kept
    # row 1: attr 0 added, the reference lacks it (no); attr 1 added, the reference has it (yes); attr 2 kept
    assert intensity_terms(b).tolist() == [[True, False, False], [False, True, False]]


class _Logits(torch.nn.Module):
    """A 'classifier' whose logits are the images' first pixel row (B, 3, 1, n) -> (B, n)."""

    def forward(self, x):
        return x[:, 0, 0, :]


def test_the_attribute_loss_drops_its_margin_where_the_intensity_term_judges():
    logits = torch.tensor([[2.0, -1.0, 7.0]])
    target = torch.tensor([[1.0, 0.0, 1.0]])
    no_margin = torch.tensor([[True, False, False]])
    loss = AttributeLoss(_Logits(), margin=3.0)
    got = loss(None, target, logits=logits, no_margin=no_margin)
    want = attribute_loss(logits, target, margin=torch.tensor([[0.0, 3.0, 3.0]]))
    assert got.item() == pytest.approx(want.item())
    assert got.item() != pytest.approx(attribute_loss(logits, target, margin=3.0).item())
    # with the margin on changed attributes only, both masks apply
    changed = torch.tensor([[True, True, False]])
    got = AttributeLoss(_Logits(), margin=3.0, margin_on="changed")(None, target, logits=logits, changed=changed,
                                                                     no_margin=no_margin)
    assert got.item() == pytest.approx(attribute_loss(logits, target, margin=torch.tensor([[0.0, 3.0, 0.0]])).item())
    # given images, the loss reads them with its classifier: the same number as from the logits
    images = logits[:, None, None, :].expand(1, 3, 1, 3)
    assert loss(images, target, no_margin=no_margin).item() == pytest.approx(want.item())
    with pytest.raises(ValueError, match="images to judge"):
        loss(None, target)


def _weights(extra):
    return {"lpips": 0.0, "identity": 0.0} | extra


def test_refused_without_references_or_with_a_joint_discriminator(tmp_path):
    from latentedit_isf import ISFMapper

    G = tiny_generator(16, z_dim=8, w_dim=8)
    judge = LinearJudge(2, pool=1, seed=0).eval()
    weights = {k: 0.0 for k in ISFMapper.default_loss_weights()} | {"attribute": 1.0, "reference_intensity": 1.0}
    run = build_run_config("isf", ISFMapper, {"mapper": {"z_dim": 4, "hidden_dim": 8},
                                              "trainer": {"steps": 1, "progress": False, "loss_weights": weights}})
    with registered_mapper("isf", ISFMapper), pytest.raises(ValueError, match="reference_intensity.*hook no"):
        MapperTrainer(run, G, tmp_path / "isf", mapper_class=ISFMapper, classifier=judge)
    run = build_run_config("sensorium", SensoriumMapper, {
        "mapper": {"style_dim": 8, "encoder_channels": [8, 16], "encoder_input": 16, "hidden_dim": 32},
        "trainer": {"steps": 1, "progress": False, "discriminator": "joint",
                    "loss_weights": _weights({"reference_intensity": 1.0, "adversarial": 1.0})}})
    with registered_mapper("sensorium", SensoriumMapper), pytest.raises(ValueError, match="judge joint D head"):
        MapperTrainer(run, G, tmp_path / "sens", mapper_class=SensoriumMapper, classifier=judge)
    # the joint discriminator for realism only, the frozen classifier as judge: accepted
    run = build_run_config("sensorium", SensoriumMapper, {
        "mapper": {"style_dim": 8, "encoder_channels": [8, 16], "encoder_input": 16, "hidden_dim": 32},
        "trainer": {"steps": 1, "progress": False, "discriminator": "joint", "joint_attribute_judge": "classifier",
                    "loss_weights": _weights({"reference_intensity": 1.0, "adversarial": 1.0})}})
    with registered_mapper("sensorium", SensoriumMapper):
        t = MapperTrainer(run, G, tmp_path / "sens2", mapper_class=SensoriumMapper, classifier=judge)
    assert "attribute" in t.losses and t.D is not None


def test_the_trainer_judges_the_edit_against_the_references_logits(tmp_path):
    """One reference-transfer batch through the trainer's objective: the batch carries the classifier's logits of
    the references, the term is the Huber distance of the edit's logits to them on ``intensity_terms``, and the
    attribute term judges those terms without the margin."""
    G, judge = tiny_world()
    run = build_run_config("sensorium", SensoriumMapper, {
        "mapper": {"style_dim": 8, "encoder_channels": [8, 16], "encoder_input": 16, "hidden_dim": 32,
                   "reference_code": True, "relative_delta": True, "keep_prob": 1.0},
        "trainer": {"steps": 1, "batch": 16, "progress": False, "targets": "reference",
                    "losses": {"attribute_margin": 3.0},
                    "loss_weights": _weights({"reference_intensity": 0.5})}})
    with registered_mapper("sensorium", SensoriumMapper):
        t = MapperTrainer(run, G, tmp_path, mapper_class=SensoriumMapper, classifier=judge)
    batch = t.runner.make_batch(0)
    assert batch.reference_targets and torch.equal(batch.ref_logits, judge(batch.ref_images))
    terms = t.objective(batch)
    logits, matched = judge(t.objective.last_edit), intensity_terms(batch)
    assert matched.any() and torch.equal(matched, batch.target != batch.source)  # a transfer: every change
    assert terms["reference_intensity"].item() == pytest.approx(
        0.5 * intensity_loss(logits, batch.ref_logits, matched).item(), rel=1e-5)
    margin = 3.0 * (~matched).float()
    want = t.objective.ext.losses["attribute"].weight * attribute_loss(logits, batch.target, margin=margin)
    assert terms["attribute"].item() == pytest.approx(want.item(), rel=1e-5)
    everywhere = t.objective.ext.losses["attribute"].weight * attribute_loss(logits, batch.target, margin=3.0)
    assert terms["attribute"].item() != pytest.approx(everywhere.item(), rel=1e-3)


def test_intensity_gaps_by_hand():
    src = torch.tensor([[0.1, 0.9], [0.2, 0.1], [0.9, 0.3]])
    ref = torch.tensor([[0.8, 0.9], [0.6, 0.7], [1.0, 0.2]])
    edit = torch.tensor([[0.7, 0.9], [0.9, 0.7], [1.0, 0.2]])
    out = intensity_gaps(src, ref, edit, seed=0)
    # added terms: (row 0, attr 0) |0.7-0.8|, (row 1, attr 0) |0.9-0.6|, (row 1, attr 1) |0.7-0.7|
    assert out["intensity_gap"] == pytest.approx((0.1 + 0.3 + 0.0) / 3)
    # the generic gap draws other references with the attribute: attr 0 from {0.8, 0.6, 1.0}, attr 1 only 0.9, 0.7
    assert 0.0 <= out["intensity_gap_generic"] <= (0.4 + 0.4 + 0.2) / 3
    # with two references per attribute, "another reference" is the other one, never the row itself
    src2 = torch.tensor([[0.1], [0.2], [0.9]])
    ref2 = torch.tensor([[0.8], [0.6], [0.1]])
    for seed in range(5):
        out2 = intensity_gaps(src2, ref2, ref2, seed=seed)
        assert out2["intensity_gap"] == 0.0 and out2["intensity_gap_generic"] == pytest.approx(0.2)
    none = intensity_gaps(src, torch.zeros_like(ref), edit, seed=0)
    assert all(v != v for v in none.values())  # NaN: nothing qualifies


def test_intensity_loss_with_beta_zero_is_the_masked_l1():
    values = torch.tensor([[0.2, 0.9], [0.5, 0.1]])
    ref = torch.tensor([[0.7, 0.8], [0.5, 0.6]])
    mask = torch.tensor([[1, 0], [1, 1]])
    assert intensity_loss(values, ref, mask, beta=0.0).item() == pytest.approx((0.5 + 0.0 + 0.5) / 3)
    # the default Huber (delta 1) squares these small gaps: a reader's [0, 1] gaps need L1 to be felt
    assert intensity_loss(values, ref, mask).item() == pytest.approx(0.5 * (0.25 + 0.0 + 0.25) / 3)
    with pytest.raises(ValueError, match="beta must be a number >= 0"):
        intensity_loss(values, ref, mask, beta=-1.0)


def test_the_retired_intensity_judge_field_reads_only_at_its_old_default():
    """Older checkpoints and mapper files wrote ``trainer.intensity_judge: null``: it is read and dropped; a judge
    file there (a reader this version no longer has) is an error that names the field."""
    from latentedit.training.config import TrainerConfig

    assert TrainerConfig.from_dict({"steps": 3, "intensity_judge": None}) == TrainerConfig(steps=3)
    with pytest.raises(ConfigError, match="unknown TrainerConfig field.*'intensity_judge'"):
        TrainerConfig.from_dict({"intensity_judge": "judge_factors.safetensors"})
