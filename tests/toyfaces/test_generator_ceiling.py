"""Ground-truth edits in Gaussian coordinates, and the generator ceiling scored with stub networks whose answers are
known: a generator that draws its factors exactly scores 1 on success/kept/identity; one that ignores an attribute
scores 0 on it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from latentedit_toyfaces.evaluation.generator_ceiling import (ceiling_markdown, evaluate_generator_ceiling,
                                                     is_distilled_toy_generator)
from latentedit.stylegan2.layers import normalize_2nd_moment
from latentedit_toyfaces.factors import (ATTRIBUTE_NAMES, INDEX, NUM_FACTORS, FactorError, factors_from_gaussian,
                                         flip_attribute_gaussian)


@pytest.mark.parametrize("name", ATTRIBUTE_NAMES)
@pytest.mark.parametrize("prior", [True, False])
def test_flip_changes_exactly_one_attribute(name, prior):
    u = torch.randn(500, NUM_FACTORS, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    f, g = factors_from_gaussian(u, prior), factors_from_gaussian(flip_attribute_gaussian(u, name, prior), prior)
    expected = f.clone()
    expected[:, INDEX[name]] = 1 - f[:, INDEX[name]]
    torch.testing.assert_close(g, expected, atol=1e-12, rtol=0)
    assert bool(((g[:, INDEX[name]] > 0.5) != (f[:, INDEX[name]] > 0.5)).float().mean() > 0.95)


def test_flip_rejects_unknown_attributes():
    with pytest.raises(FactorError, match="unknown attribute 'grin'"):
        flip_attribute_gaussian(torch.zeros(1, NUM_FACTORS), "grin")


class _Mapping(nn.Module):
    num_ws = 2

    def __init__(self):
        super().__init__()
        self.register_buffer("w_avg", torch.zeros(NUM_FACTORS))

    def z_to_w(self, z, normalize=True):
        return normalize_2nd_moment(z) if normalize else z


class _FactorPixels(nn.Module):
    """A 'generator' (w = u) whose image carries the factors of w in its first pixels; ``ignore`` attributes stay
    at 0."""

    def __init__(self, ignore=()):
        super().__init__()
        self.z_dim = NUM_FACTORS
        self.mapping = _Mapping()
        self.ignore = [INDEX[a] for a in ignore]

    def synthesis(self, ws, noise_mode="const"):
        f = factors_from_gaussian(ws[:, 0])
        f[:, self.ignore] = 0.0
        x = torch.zeros(ws.shape[0], 3, 8, 8)
        x.view(ws.shape[0], -1)[:, :NUM_FACTORS] = f
        return x


class _ReadPixels(nn.Module):
    def forward(self, x):
        return x.reshape(x.shape[0], -1)[:, :NUM_FACTORS]


class _Embed(nn.Module):
    def forward(self, x):
        return nn.functional.normalize(x.reshape(x.shape[0], -1)[:, :NUM_FACTORS] + 1, dim=1)


def test_a_perfect_generator_reaches_the_ceiling_and_a_blind_one_fails_its_attribute():
    tol = {a: 1e-3 for a in ATTRIBUTE_NAMES}
    perfect = evaluate_generator_ceiling(_FactorPixels(), estimator=_ReadPixels(), embedder=_Embed(), tolerance=tol,
                                         n=64, seed=0, batch_size=16)
    assert [r.attribute for r in perfect] == list(ATTRIBUTE_NAMES)
    for r in perfect:
        assert r.success == pytest.approx(1.0) and r.others_unchanged == pytest.approx(1.0)
        assert r.identity_within_noise == pytest.approx(1.0) and r.identity_change < 1e-5 and r.frs > 0.99
    blind = evaluate_generator_ceiling(_FactorPixels(ignore=("smile",)), estimator=_ReadPixels(), embedder=_Embed(),
                                       tolerance=tol, n=64, seed=0, batch_size=16)
    by = {r.attribute: r for r in blind}
    assert by["smile"].success == 0.0 and by["age"].success == pytest.approx(1.0)
    assert "| smile | 0.000 |" in ceiling_markdown(blind)


def test_only_distilled_toy_generators_have_a_ceiling():
    G = _FactorPixels()
    assert is_distilled_toy_generator(G, {"recipe": "toyfaces-distill"})
    assert not is_distilled_toy_generator(G, {})
    G.z_dim = 512
    assert not is_distilled_toy_generator(G, {"recipe": "toyfaces-distill"})



def test_ceiling_relative_score_is_success_times_kept_over_identity_multiple():
    from types import SimpleNamespace

    from latentedit_toyfaces.evaluation.generator_ceiling import (CeilingScore, ceiling_relative_markdown,
                                                                  ceiling_relative_scores)

    ceiling = [CeilingScore("smile", 10, 0.9, 0.99, 0.4, 0.04, 0.99), CeilingScore("age", 10, 1.0, 1.0, 0.4, 0.05, 1.0)]
    rows = [SimpleNamespace(method="a", attribute="smile", success=0.9, others_unchanged=0.8, identity_change=0.08),
            SimpleNamespace(method="a", attribute="age", success=1.0, others_unchanged=1.0, identity_change=0.05),
            SimpleNamespace(method="a", attribute="beard", success=1.0, others_unchanged=1.0, identity_change=0.01)]
    scores = ceiling_relative_scores(rows, ceiling)
    assert [s["attribute"] for s in scores] == ["smile", "age"]       # no ceiling row for beard: left out
    assert scores[0]["identity_x_ceiling"] == pytest.approx(2.0) and scores[0]["score"] == pytest.approx(0.36)
    assert scores[1]["identity_x_ceiling"] == pytest.approx(1.0) and scores[1]["score"] == pytest.approx(1.0)
    md = ceiling_relative_markdown(scores)
    assert "| a | 0.360 (2.0×) | 1.000 (1.0×) | 0.680 (1.5×) |" in md
