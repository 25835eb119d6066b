"""The sharpening terms of the toy-faces generator recipe: the teacher (a separately trained factor estimator
must read in G(z) the factors it reads in the render)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from latentedit_toyfaces.factors import ATTRIBUTE_INDEX, INDEX, NUM_FACTORS, sample_factors
from latentedit_toyfaces.judges import default_path, load_judge
from latentedit_toyfaces.renderer import render
from latentedit_toyfaces.recipes.distill_phases import extension_conflicts
from latentedit_toyfaces.recipes.distill import DistillConfig, DistillRun, teacher_loss

TINY = DistillConfig(resolution=16, w_dim=16, mapping_layers=2, channels=(16, 16, 8), batch_size=4, lr=5e-3,
                     readout_weight=0.0)


class ColumnTeacher(torch.nn.Module):
    """Reads factor j as the mean of pixel block j: (B, 3, R, R) -> (B, NUM_FACTORS)."""

    config = type("Config", (), {"name": "factors"})()

    def forward(self, x):
        return x.flatten(1)[:, : NUM_FACTORS * 4].view(x.shape[0], NUM_FACTORS, 4).mean(-1)


def test_teacher_loss_is_zero_on_the_target_and_weights_the_attribute_columns():
    teacher = ColumnTeacher()
    real = torch.zeros(2, 3, 8, 8)
    assert float(teacher_loss(teacher, real, real)) == 0.0
    attr, other = ATTRIBUTE_INDEX[0], INDEX["face_width"]
    off_attr, off_other = real.clone(), real.clone()
    off_attr.view(2, -1)[:, attr * 4: attr * 4 + 4] = 1.0    # the teacher reads attribute `attr` 1 instead of 0
    off_other.view(2, -1)[:, other * 4: other * 4 + 4] = 1.0  # ... identity factor face_width 1 instead of 0
    weights_sum = NUM_FACTORS - len(ATTRIBUTE_INDEX) + 3.0 * len(ATTRIBUTE_INDEX)
    assert float(teacher_loss(teacher, off_attr, real, 3.0)) == pytest.approx(3.0 / weights_sum)
    assert float(teacher_loss(teacher, off_other, real, 3.0)) == pytest.approx(1.0 / weights_sum)


def test_an_attribute_classifier_teacher_compares_probabilities_and_other_files_are_refused(tmp_path):
    from latentedit_toyfaces.recipes.distill_losses import load_teacher, teacher_reading

    classifier = load_teacher(default_path("attributes"))
    x = render(sample_factors(4, seed=9), 64)
    assert torch.allclose(teacher_reading(classifier, x), torch.sigmoid(classifier(x)))
    flipped = sample_factors(4, seed=9)
    flipped[:, INDEX["eyeglasses"]] = 1 - flipped[:, INDEX["eyeglasses"]]
    # one of five probabilities flips from ~0 to ~1 on every face: the loss is about 1/5
    assert float(teacher_loss(classifier, render(flipped, 64), x)) == pytest.approx(0.2, abs=0.03)
    with pytest.raises(ValueError, match="identity"):
        load_teacher(default_path("identity"))


def test_teacher_gradient_draws_the_smile_the_teacher_reads():
    """Pixels of a no-smile render, moved by the teacher term alone toward the smiling render, end up read as
    smiling by the teacher (the gradient flows through the frozen judge into the image)."""
    teacher = load_judge("factors")
    f = sample_factors(4, seed=3)
    f[:, INDEX["smile"]] = 0.95
    smiling = render(f, 64)
    f[:, INDEX["smile"]] = 0.05
    x = render(f, 64).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.02)
    start = float(teacher(x.detach())[:, INDEX["smile"]].mean())
    for _ in range(30):
        opt.zero_grad()
        teacher_loss(teacher, x, smiling).backward()
        opt.step()
    end = float(teacher(x.detach())[:, INDEX["smile"]].mean())
    assert start < 0.3 and end > 0.7, (start, end)
    assert all(p.grad is None for p in teacher.parameters())  # frozen


def test_config_needs_a_teacher_file_and_a_phase_may_add_the_teacher_later():
    with pytest.raises(ValueError, match="teacher_files"):
        DistillConfig(teacher_weight=1.0)
    later = dataclasses.replace(TINY, teacher_weight=1.0, teacher_from_step=5, teacher_files=("t.safetensors",))
    assert extension_conflicts(TINY, later, 5) == []
    assert "schedule of step 5" in " ".join(extension_conflicts(TINY, later, 6))


def test_teacher_term_is_part_of_the_loss_only_when_on(tmp_path, monkeypatch):
    import latentedit_toyfaces.recipes.distill as distill

    cfg = dataclasses.replace(TINY, teacher_weight=2.0, teacher_from_step=1,
                              teacher_files=(str(default_path("factors")), str(default_path("attributes"))),
                              teacher_attribute_weight=5.0)
    seen = []

    def constant_teacher_loss(teacher, fake, real, attribute_weight):  # records its call, adds a known amount
        seen.append((teacher, fake.shape, attribute_weight))
        return fake.sum() * 0 + 7.0

    monkeypatch.setattr(distill, "teacher_loss", constant_teacher_loss)
    torch.manual_seed(0)
    run = DistillRun(cfg, tmp_path / "on", resume=False)
    run.train_step()  # step 0: before teacher_from_step
    assert seen == []
    torch.manual_seed(0)
    twin = DistillRun(dataclasses.replace(TINY), tmp_path / "off", resume=False)  # same weights, no teacher
    twin.train_step()
    torch.manual_seed(1)
    without = twin.train_step()
    torch.manual_seed(1)
    loss = run.train_step()
    assert [s[0] for s in seen] == run.teachers and [t.config.name for t in run.teachers] == ["factors", "attributes"]
    assert all(s[1] == (4, 3, 16, 16) and s[2] == 5.0 for s in seen)
    assert loss - without == pytest.approx(2.0 * 7.0, abs=1e-4)  # weight x the mean over teachers, nothing else
