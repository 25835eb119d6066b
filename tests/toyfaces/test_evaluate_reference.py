"""Reference-transfer and mode-coverage scores (``latentedit_toyfaces.evaluation.reference_quality``) on a tiny random
generator with random judges: exact values for stub mappers whose answer is known, and the real sensorium mapper."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

try:
    import latentedit_sensorium  # noqa: F401
except ImportError:  # the editable install predates the plugin folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from latentedit_toyfaces.evaluation import reference_quality as rq
from latentedit.plugins import GeneratorInfo
from latentedit_toyfaces.factors import ATTRIBUTE_INDEX, IDENTITY_INDEX, NUM_FACTORS
from latentedit_toyfaces.judges import JudgeNet, default_config
from tests.conftest import tiny_generator

ATTRS = ("smile", "eyeglasses", "age")


class _PooledEstimator(nn.Module):
    """images -> 21 'factors' in (0, 1): a random linear map of 4x4-pooled pixels, calibrated on generator samples
    so every factor is above 0.5 for about half of them (random judge nets read nearly constant labels)."""

    def __init__(self, G):
        super().__init__()
        torch.manual_seed(2)
        self.lin = nn.Linear(48, NUM_FACTORS)
        with torch.no_grad():
            x = G.synthesis(G.mapping(torch.randn(256, G.z_dim)), noise_mode="const")
            y = self.lin(self.features(x))
            self.lin.weight.div_(y.std(0, keepdim=True).T / 3)
            self.lin.bias.div_(y.std(0) / 3)
            self.lin.bias.sub_(self.lin(self.features(x)).median(0).values)

    def features(self, x):
        return F.adaptive_avg_pool2d(x, 4).flatten(1)

    def forward(self, x):
        return torch.sigmoid(self.lin(self.features(x)))


@pytest.fixture(scope="module")
def world():
    torch.manual_seed(0)
    cfg = default_config("identity")
    cfg = type(cfg)(name=cfg.name, channels=(8, 8, 8, 8), feature_dim=16, out_dim=cfg.out_dim)
    G = tiny_generator(resolution=16)
    return G, _PooledEstimator(G).eval(), JudgeNet(cfg).eval(), GeneratorInfo.from_generator(G, ATTRS)


class _Keep(nn.Module):
    """A style mapper that leaves the source alone."""

    takes_style, takes_noise = True, False

    def __init__(self, gi):
        super().__init__()
        self.generator_info, self.style_dim = gi, 4

    def encode_style(self, images, **_):
        return images.mean(dim=(2, 3)).repeat(1, 2)[:, :4]

    def forward(self, w, *, target=None, style=None):
        return w


class _CopyReference(_Keep):
    """Returns the reference's own W+: finds it in a bank by its image (the style is the flattened image)."""

    def __init__(self, gi, G, w_bank):
        super().__init__(gi)
        self.w_bank = w_bank
        self.x_bank = G.synthesis(w_bank, noise_mode="const").flatten(1)

    def encode_style(self, images, **_):
        return images.flatten(1)

    def forward(self, w, *, target=None, style=None):
        return self.w_bank[torch.cdist(style, self.x_bank).argmin(dim=1)]


@torch.no_grad()
def test_keeping_the_source_scores_the_baseline_and_perfect_identity(world):
    G, est, emb, gi = world
    s = rq.evaluate_reference_transfer(G, _Keep(gi), estimator=est, embedder=emb, n=40, seed=3, batch_size=16)
    assert s.agreement == pytest.approx(s.agreement_source)
    assert s.identity_change == 0 and s.identity_within_noise == 1 and s.frs == pytest.approx(1, abs=1e-5)
    assert set(s.per_attribute) == set(ATTRS) and s.tolerance >= 0


@torch.no_grad()
def test_copying_the_reference_agrees_everywhere(world):
    G, est, emb, gi = world
    n, seed = 24, 5
    z_src, z_ref = torch.randn(2, n, G.z_dim, generator=torch.Generator().manual_seed(seed))  # the same stream
    mapper = _CopyReference(gi, G, G.mapping(z_ref))
    s = rq.evaluate_reference_transfer(G, mapper, estimator=est, embedder=emb, n=n, seed=seed, batch_size=8)
    assert s.agreement == 1.0 and all(v == 1.0 for v in s.per_attribute.values())
    assert s.agreement_source < 1.0 and s.identity_change > 0


def test_transfer_noise_is_zero_when_nothing_is_transferred(world):
    _, est, _, _ = world
    ident = list(IDENTITY_INDEX)
    assert rq.transfer_noise(est, ident, [], n=16, seed=0, resolution=16, quantile=0.9) == 0.0
    assert rq.transfer_noise(est, ident, list(ATTRIBUTE_INDEX), n=16, seed=0, resolution=16, quantile=0.9) > 0.0


@torch.no_grad()
def test_sensorium_coverage_and_transfer_tables(world):
    from latentedit_sensorium import SensoriumConfig, SensoriumMapper

    G, est, emb, gi = world
    torch.manual_seed(1)
    m = SensoriumMapper(SensoriumConfig(style_dim=8, encoder_channels=(4, 8), encoder_input=16,
                                        residual_init_scale=1.0), gi).eval()
    cov = rq.evaluate_mode_coverage(G, m, estimator=est, n=4, sources=3, bins=10, pool=32, batch_size=16,
                                    method="sensorium")
    assert [c.attribute for c in cov] == [a for a in ATTRS if any(c.attribute == a for c in cov)] and cov
    for c in cov:
        assert 1 <= c.random_bins <= 4 and 1 <= c.clusters_bins <= 4 and c.sources <= 3
        assert 0 <= c.random_success <= 1 and 0 <= c.clusters_success <= 1
        assert c.natural_bins != c.natural_bins or 1 <= c.natural_bins <= 4  # NaN: fewer than n samples have it
        assert 1 <= c.edit_clusters_bins <= 4 and 0 <= c.edit_clusters_success <= 1  # a style mapper: both kinds
    # the unedited samples' count is the domain's, whatever the mapper
    torch.manual_seed(2)
    other = SensoriumMapper(SensoriumConfig(style_dim=8, encoder_channels=(4, 8), encoder_input=16,
                                            residual_init_scale=1.0), gi).eval()
    cov2 = rq.evaluate_mode_coverage(G, other, estimator=est, n=4, sources=3, bins=10, pool=32, batch_size=16)
    assert [c.natural_bins for c in cov2] == pytest.approx([c.natural_bins for c in cov], nan_ok=True)
    assert any(c.natural_bins == c.natural_bins for c in cov), cov
    ref = rq.evaluate_reference_transfer(G, m, estimator=est, embedder=emb, n=8, batch_size=8)
    md = rq.reference_markdown([ref]) + rq.coverage_markdown(cov)
    assert "| sensorium | 8 |" in md and "distinct bins" in md
    # a noise mapper has no style codes, so no second kind of clusters: its cells read "—", never "nan"
    import dataclasses

    noise_row = rq.coverage_markdown([dataclasses.replace(cov[0], method="isf", edit_clusters_bins=float("nan"),
                                                          edit_clusters_success=float("nan"))])
    assert "nan" not in noise_row and noise_row.count("| — |") == 2
    with pytest.raises(ValueError, match="encode_style"):
        rq.evaluate_reference_transfer(G, object.__new__(nn.Identity), estimator=est, embedder=emb, n=4)
