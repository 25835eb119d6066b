"""Evaluation without ground truth: each metric against a hand computation, the identity mapper's row, and the
`latentedit evaluate` command on a tiny generator with a tiny classifier file."""

from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from latentedit.evaluation import EvalConfig, EvaluationError, evaluate_without_ground_truth
from latentedit.evaluation import metrics as mt
from latentedit.plugins import GeneratorInfo
from tests.conftest import tiny_generator


def test_target_hit_and_others_kept_by_hand():
    logits = torch.tensor([[1.0, -2.0, 3.0], [-1.0, 2.0, -3.0]])
    src = torch.tensor([[-1.0, -2.0, -3.0], [-1.0, -2.0, -3.0]])
    assert mt.target_hit(logits, 0, torch.tensor([True, True])).tolist() == [1.0, 0.0]
    # image 0: col 1 same, col 2 flipped -> 0.5; image 1: col 1 flipped, col 2 same -> 0.5
    assert mt.others_kept(logits, src, [1, 2]).tolist() == [0.5, 0.5]
    assert mt.others_kept(logits, src, []).tolist() == [1.0, 1.0]


def test_identity_cosine_and_distances_by_hand():
    a, b = torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.tensor([[0.0, 2.0], [2.0, 2.0]])
    assert torch.allclose(mt.identity_cosine(a, b), torch.tensor([0.0, 1.0]))
    x, y = torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.5)
    assert mt.image_distance(x, y).tolist() == [0.25]
    stack = torch.stack([x, y, -y])  # pairs: 0.25, 0.25, 0.5 -> mean 1/3
    assert mt.pairwise_distance(stack).item() == pytest.approx(1 / 3)
    assert mt.pairwise_distance(stack[:1]).tolist() == [0.0]


class _MeanClassifier(nn.Module):
    """Logits = per-channel image means minus thresholds (3 named attributes); features = the same 3 means."""

    output_names = ("red", "green", "blue")

    def __init__(self, thresholds=(0.0, 0.0, 0.0)):
        super().__init__()
        self.register_buffer("t", torch.tensor(thresholds))

    def features(self, x):
        return x.mean(dim=(2, 3))

    def forward(self, x):
        return self.features(x) - self.t


class _Embedder(nn.Module):
    def forward(self, x):
        return nn.functional.avg_pool2d(x, 4).flatten(1)


class _Identity(nn.Module):
    """A mapper that changes nothing (the contract's call shape)."""

    def __init__(self, gi):
        super().__init__()
        self.generator_info = gi

    def forward(self, w, target=None):
        return w


class _Shift(_Identity):
    """Adds a large constant to every W+ code: the image changes."""

    def forward(self, w, target=None):
        return w + 3.0


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    return tiny_generator(resolution=16)


def test_the_identity_mapper_scores_zero_success_all_kept_cosine_one(G):
    gi = GeneratorInfo.from_generator(G, ("red", "green", "nose"))
    res = evaluate_without_ground_truth(G, {"same": _Identity(gi), "shift": _Shift(gi)},
                                        classifier=_MeanClassifier(), embedder=_Embedder(),
                                        config=EvalConfig(n=12, batch_size=5))
    rows = {(r.method, r.attribute): r for r in res.rows}
    assert set(rows) == {("same", "red"), ("same", "green"), ("shift", "red"), ("shift", "green")}
    for attr in ("red", "green"):
        r = rows[("same", attr)]
        assert r.success == 0.0 and r.others_kept == 1.0 and r.n == 12
        assert r.identity_cos == pytest.approx(1.0, abs=1e-5)
        assert r.fd_edited == pytest.approx(r.fd_source, abs=1e-6)  # same images, same features
        assert math.isnan(r.lpips_to_source) and math.isnan(r.diversity)  # no LPIPS; not multimodal
    assert rows[("shift", "red")].identity_cos < 0.999
    assert res.feature_kind == "penultimate" and res.lpips_kind == "none"
    assert any("nose" in note for note in res.notes)
    data = json.loads(res.to_json())
    assert data["rows"][0]["lpips_to_source"] is None and data["means"]["same"]["success"] == 0.0
    md = res.to_markdown()
    assert "| **same** | **mean** | 0.000 | 1.000 | 1.000 | — |" in md


def test_success_is_the_share_the_classifier_reads_as_wanted(G):
    """A mapper that always gives the same image: success = the share of sources whose reading differs from it."""
    gi = GeneratorInfo.from_generator(G, ("red",))
    w0 = G.mapping(torch.randn(1, G.z_dim)).detach()

    class Const(_Identity):
        def forward(self, w, target=None):
            return w0.expand_as(w)

    clf = _MeanClassifier()
    cfg = EvalConfig(n=10, batch_size=4)
    from latentedit.evaluation.edit_scores import source_latents

    w = source_latents(G, cfg)
    src = clf(G.synthesis(w, noise_mode="const"))[:, 0] > 0
    const = bool(clf(G.synthesis(w0, noise_mode="const"))[0, 0] > 0)
    expected = float((src != const).float().mean())  # wanted = not src; hit when const == not src
    res = evaluate_without_ground_truth(G, {"c": Const(gi)}, classifier=clf, embedder=None, config=cfg)
    assert res.rows[0].success == pytest.approx(expected)
    assert math.isnan(res.rows[0].identity_cos)


def test_a_classifier_for_other_attributes_is_a_one_line_error(G):
    gi = GeneratorInfo.from_generator(G, ("smile",))
    with pytest.raises(EvaluationError, match="none in common.*--classifier"):
        evaluate_without_ground_truth(G, {"m": _Identity(gi)}, classifier=_MeanClassifier(),
                                      config=EvalConfig(n=4))


def test_classifier_features_fall_back_to_logits():
    class Plain(nn.Module):
        def forward(self, x):
            return x.mean(dim=(1, 2, 3))[:, None]

    feats, kind = mt.classifier_features(Plain(), torch.zeros(2, 3, 4, 4))
    assert kind == "logits" and feats.shape == (2, 1)
