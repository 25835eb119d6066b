"""The trainer calls a mapper's ``condition_target`` hook: the mapper is asked with NaN (= keep) on unchanged
attributes as the hook decides, the losses still use the full target, and the edit back asks for the source's
labels on the same columns. (Until session 8 the hook existed in the isf plugin but the trainer never called it, so
``keep_prob`` had no effect and the mapper never saw a 'keep' code in training.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

try:
    import latentedit_isf  # noqa: F401
except ImportError:  # the editable install predates the plugin folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from latentedit.plugins import registered_mapper
from latentedit.training.config import build_run_config
from latentedit.training.data import draw_randoms
from latentedit.training.toys import calibrated_judge, tiny_generator
from latentedit.training.trainer import MapperTrainer
from latentedit_isf import ISFMapper


def _trainer(tmp_path, keep_prob: float):
    G = tiny_generator()
    judge = calibrated_judge(G, 3)
    run = build_run_config("isf", ISFMapper, {
        "mapper": {"z_dim": 4, "hidden_dim": 16, "keep_prob": keep_prob, "relative_delta": True},
        "trainer": {"steps": 1, "batch": 8, "max_flips": 1, "progress": False, "discriminator": "frozen",
                    "mixing_prob": 0.0, "sample_count": 0, "sample_interval": 0, "checkpoint_interval": 0,
                    "loss_weights": {"adversarial": 0.0, "r1": 0.0, "lpips": 0.0, "lpips_cycle": 0.0,
                                     "identity": 0.0, "diversity": 0.0}}})
    with registered_mapper("isf", ISFMapper):
        return MapperTrainer(run, G, tmp_path, mapper_class=ISFMapper, classifier=judge)


@pytest.mark.parametrize("keep_prob", [1.0, 0.5, 0.0])
def test_the_mapper_is_asked_with_keep_on_unchanged_attributes(tmp_path, keep_prob):
    t = _trainer(tmp_path, keep_prob)
    b = t.runner.make_batch(3)
    unchanged = b.target == b.source
    assert b.call_target is not None and b.call_target.shape == b.target.shape
    nan = torch.isnan(b.call_target)
    assert not bool((nan & ~unchanged).any())                         # a flipped attribute is always asked for
    assert torch.equal(b.call_target[~nan], b.target[~nan])
    if keep_prob == 1.0:
        assert torch.equal(nan, unchanged)
    elif keep_prob == 0.0:
        assert not bool(nan.any())
    else:
        share = float(nan.sum() / unchanged.sum())
        assert 0.2 < share < 0.8, share
        # the same draw for the same step (resume and DDP replay the batch)
        assert torch.equal(torch.isnan(t.runner.make_batch(3).call_target), nan)


def test_the_objective_calls_the_mapper_with_the_conditioned_target(tmp_path, monkeypatch):
    t = _trainer(tmp_path, 1.0)
    b = t.runner.make_batch(0)
    seen = []
    real = type(t.mapper).forward

    def spy(self, w_plus, *, target, z=None):
        seen.append(target.detach().clone())
        return real(self, w_plus, target=target, z=z)

    monkeypatch.setattr(type(t.mapper), "forward", spy)
    t.objective.step = 0
    terms = t.objective(b)
    assert "attribute" in terms and "latent_cycle" in terms
    edit, back = seen[0], seen[1]
    nan = torch.isnan(b.call_target)
    assert torch.equal(torch.isnan(edit), nan) and torch.equal(edit[~nan], b.target[~nan])
    assert torch.equal(torch.isnan(back), nan) and torch.equal(back[~nan], b.source[~nan])


def test_the_attribute_margin_is_put_on_the_changed_attributes(tmp_path, monkeypatch):
    """The objective tells the attribute loss which terms the target changes (target != source)."""
    t = _trainer(tmp_path, 1.0)
    b = t.runner.make_batch(0)
    seen = []
    loss = t.objective.ext.losses["attribute"]
    real = type(loss).forward
    monkeypatch.setattr(type(loss), "forward", lambda self, x, target, **kw: seen.append(kw) or real(self, x, target,
                                                                                                   **kw))
    t.objective.step = 0
    t.objective(b)
    assert torch.equal(seen[0]["changed"], b.target != b.source) and bool(seen[0]["changed"].any())


def test_keep_u_is_drawn_after_the_other_randoms():
    """Adding keep_u left every earlier draw of a step unchanged (old runs replay the same batches)."""
    r = draw_randoms(seed=1, step=5, batch=4, lo=0, hi=4, z_dim=3, num_ws=2, n_attr=3, max_flips=2)
    half = draw_randoms(seed=1, step=5, batch=4, lo=2, hi=4, z_dim=3, num_ws=2, n_attr=3, max_flips=2)
    assert r.keep_u.shape == (4, 3) and bool(((r.keep_u >= 0) & (r.keep_u < 1)).all())
    assert torch.equal(half.keep_u, r.keep_u[2:]) and torch.equal(half.z, r.z[2:])
    from latentedit.training.data import step_generator

    g = step_generator(1, 5)
    assert torch.equal(torch.randn(4, 3, generator=g), r.z)
