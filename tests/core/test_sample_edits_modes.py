"""latentedit.editing.sampling: random, clusters (pix2pixHD), mixing and interpolation, generic over noise/style."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

try:
    import latentedit_sensorium  # noqa: F401
except ImportError:  # the editable install predates the plugin folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from latentedit.editing import sampling as sm
from latentedit.testing.mapper_contract import TINY_GENERATOR
from latentedit.training.toys import ToyNoiseMapper, ToyShiftConfig, ToyShiftMapper
from latentedit_sensorium import SensoriumConfig, SensoriumMapper

SMALL = SensoriumConfig(style_dim=6, encoder_channels=(4,), encoder_input=8, hidden_dim=8, residual_init_scale=1.0)
INTENSITIES = torch.tensor([0.05, 0.25, 0.45, 0.65, 0.85, 0.95])
WEIGHTS = torch.tensor([0.62, 0.2, 0.08, 0.05, 0.03, 0.02])


def synthetic_styles(count: int = 600, dim: int = 6, seed: int = 0):
    """A multi-modal style set: 6 well-separated Gaussian modes of very unequal size, mode k = intensity
    INTENSITIES[k]. Returns (styles (count, dim), mode index (count,), mode means (6, dim))."""
    g = torch.Generator().manual_seed(seed)
    means = 6.0 * torch.randn(len(INTENSITIES), dim, generator=g)
    modes = torch.multinomial(WEIGHTS, count, replacement=True, generator=g)
    return means[modes] + 0.3 * torch.randn(count, dim, generator=g), modes, means


def intensity(styles, means):
    """The intensity of each style: that of its nearest mode."""
    return INTENSITIES[torch.cdist(styles, means).argmin(dim=1)]


def test_clusters_return_n_distinct_centres_and_cover_more_bins_than_random():
    styles, _, means = synthetic_styles()
    n = 6
    centres = sm.kmeans_centres(styles, n, seed=0)
    assert centres.shape == (n, 6) and torch.unique(centres, dim=0).shape[0] == n
    cluster_bins = sm.count_bins(intensity(centres, means), bins=6)
    random_bins = []
    for seed in range(20):  # random: draw n faces' styles from the same set (the data's own distribution)
        idx = torch.randperm(len(styles), generator=torch.Generator().manual_seed(seed))[:n]
        random_bins.append(sm.count_bins(intensity(styles[idx], means), bins=6))
    mean_random = sum(random_bins) / len(random_bins)
    assert cluster_bins >= 5                                   # K-means may merge the two smallest modes
    assert cluster_bins > mean_random + 1.5, (cluster_bins, random_bins)


def test_kmeans_needs_enough_distinct_codes():
    with pytest.raises(sm.SamplingError, match="distinct codes"):
        sm.kmeans_centres(torch.zeros(10, 3), 2)


def test_random_and_clusters_are_generic_over_noise_and_style():
    torch.manual_seed(0)
    noise = ToyNoiseMapper(ToyShiftConfig(z_dim=3), TINY_GENERATOR).eval()
    with torch.no_grad():
        noise.mlp[2].weight.normal_()
    style = SensoriumMapper(SMALL, TINY_GENERATOR).eval()
    w = torch.randn(1, 6, 16)
    target = torch.tensor([[1.0, 0.0, 1.0]])
    for m, kind, dim in ((noise, "z", 3), (style, "style", 6)):
        assert sm.condition_kind(m) == kind and sm.condition_dim(m) == dim
        r = sm.random_conditions(m, 5, generator=torch.Generator().manual_seed(0))
        assert r.shape == (5, dim)
        c = sm.cluster_conditions(m, 4, w_plus=w, target=target, pool=40, seed=0)
        assert c.shape == (4, dim) and torch.unique(c, dim=0).shape[0] == 4
        edits = sm.edit_with_conditions(m, w, c, target)
        assert edits.shape == (4, 6, 16) and torch.unique(edits.flatten(1), dim=0).shape[0] == 4
    codes = torch.randn(30, 6)
    assert sm.cluster_conditions(style, 3, codes=codes).shape == (3, 6)
    cols = style.style_columns(["glasses"])
    assert cols == [2, 3]
    part = sm.cluster_conditions(style, 3, codes=codes, columns=cols)
    others = [c for c in range(6) if c not in cols]
    assert torch.allclose(part[:, others], codes[:, others].mean(0).expand(3, -1))
    assert torch.unique(part[:, cols], dim=0).shape[0] == 3
    with pytest.raises(sm.SamplingError, match="takes neither"):
        sm.condition_kind(ToyShiftMapper(None, TINY_GENERATOR))
    with pytest.raises(sm.SamplingError, match=r"\(N, 6\)"):
        sm.cluster_conditions(style, 3, codes=torch.randn(30, 5))


def test_mixing_and_interpolation():
    a, b = torch.zeros(2, 6), torch.ones(2, 6)
    mixed = sm.mix_by_columns(a, b, [1, 2])
    assert mixed[:, [1, 2]].eq(1).all() and mixed[:, [0, 3, 4, 5]].eq(0).all()
    line = sm.interpolate_conditions(a[:1], b[:1], 5)
    assert line.shape == (5, 6) and torch.equal(line[0], a[0]) and torch.equal(line[-1], b[0])
    assert torch.allclose(line[2], torch.full((6,), 0.5))
    # with the sensorium mapper, mixing one group's chunk changes only that group's edit
    style = SensoriumMapper(SMALL, TINY_GENERATOR).eval()
    sl = style.group_slices()["glasses"]
    s1, s2 = torch.randn(1, 6), torch.randn(1, 6)
    mixed = sm.mix_by_columns(s1, s2, range(sl.start, sl.stop))
    w = torch.randn(1, 6, 16)
    smile_only = torch.tensor([[1.0, float("nan"), float("nan")]])
    assert torch.allclose(style(w, target=smile_only, style=mixed), style(w, target=smile_only, style=s1))
    with pytest.raises(sm.SamplingError, match="steps >= 2"):
        sm.interpolate_conditions(a, b, 1)
